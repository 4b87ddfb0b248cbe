"""TGAN: Temporal Generative Adversarial Nets with Singular Value Clipping (Saito,
Matsumoto & Saito, ICCV 2017).

The generator is two networks (Fig. 1). The temporal generator G0, 1-D transposed
convolutions over time, maps one latent ``z_0 ∈ R^K0`` to T frame latents, and the
image generator G1 maps each pair ``(z_0, z_1^t)`` to frame t:

    G0: z_0 ↦ [z_1^1, …, z_1^T] ∈ R^{T×K1},
    G(z_0) = [G1(z_0, z_1^1), …, G1(z_0, z_1^T)].

G1 sends z_0 and z_1^t each through a bias-free linear layer, BN and ReLU to a 4×4
map, concatenates the two and upsamples with transposed 2-D convs. The discriminator
D is 3-D convs (4×4×4, stride 2) down to one frame of 4×4, then a 2-D conv to one
score. G and D play the Wasserstein game (Arjovsky et al. 2017):

    min_{G0, G1} max_D  E_x[D(x)] − E_{z_0}[D(G(z_0))],

which estimates the Wasserstein distance only while D is Lipschitz. The paper
enforces that with Singular Value Clipping, a condition per layer type of D: the
weight of every linear and convolutional layer, the convolution kernel reshaped to
the matrix ``Ŵ ∈ R^{N_out × (N_in·∏k)}``, gets ``‖Ŵ‖₂ ≤ 1`` from an SVD
``Ŵ = U Σ Vᵀ`` with the singular values above 1 set to 1,

    Ŵ ← U min(Σ, 1) Vᵀ,

and each BN ``γ(x − μ)/σ + β`` of D gets ``0 < γ ≤ σ`` (σ its running standard
deviation), so it scales by at most 1; LeakyReLU needs nothing. SVC follows D's
update every ``svc_every`` (5) iterations. RMSprop, lr 5e-5, for G0, G1 and D;
batch 32; 64×64×16 clips; K0 = K1 = 100.

Codes. The paper feeds one z_0 to both G0 and G1. :meth:`TGAN.codes` draws it once,
``z_0 ~ U(−1, 1)`` as the official code does, and returns it under two keys:
``"z_0"`` is what G1 sees on every frame (the appearance code) and ``"z_0_G0"`` what
G0 sees to make the z_1 sequence (the motion code). Both hold the same tensor, so
sampling is the paper's; the book's swap grid gives G1 the z_0 of one video and G0
the z_0 of another, which asks whether z_0 through G1 carries the appearance and the
z_1 path the motion.

Where the official code (pfnet-research/tgan @09aa105 with the UCF-101 SVC config of
its README, ``ucf101_wgan_svd_zdim-100_no-beta.yml``; reference §8) differs, and what
this module does:

* Its BNs of G0 and D have no shift β ("no-beta"); here every BN has β, the
  paper's batch normalisation (β does not change the Lipschitz constant).
* Its γ clipping is to ``[0.01·σ, σ]`` with σ = √(running variance), no ε; here
  the same, the floor being how it keeps ``0 < γ``.
* It folds D's leftover time into the batch with a plain reshape, which mixes
  channels and time when more than one frame is left; here D must reach exactly one
  frame (``frames = resolution / 4``, 16 at 64×64) and other lengths are refused.

Where the paper is silent we follow that code:

* One forward pass per iteration: D scores fresh fakes, then the real clips; G's
  loss and D's loss are differentiated at those scores and both nets step (G's
  gradient sees D before its update). SVC after iterations 5, 10, … counted from 1:
  ``fit``'s 0-based step s is iteration s + 1. SVC clips every weight with 4 or
  more axes there, i.e. D's convs; D has no linear layer.
* Biases: D's convs and G0's transposed convs have them; G1's linear and transposed
  convs do not, except its last conv. BN ε = 2e-5 and momentum 0.1 (Chainer's).
* Init: G0 and D weights ~ N(0, 1/fan_in) (Chainer's LeCun normal), G1 weights
  ~ U(−0.01, 0.01), biases 0, BN γ = 1, β = 0.
* RMSprop α = 0.99, ε = 1e-8 added after the square root (Chainer's defaults equal
  PyTorch's). Its three optimisers (G0, G1, D) are two here (G = G0 + G1), the
  same per-parameter update.

The cpu profile adds settings the paper does not use (two learning rates, an EMA of
G, PyTorch's init); each is a switch here and is listed in the chapter's deviations.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from functools import partial

import torch
from einops import rearrange, repeat
from torch import nn

from vidlib.losses import GAN_LOSSES, discriminator_loss, generator_loss
from vidlib.method import SamplesFromG
from vidlib.nn import WEIGHT_INITS, ema_update, strided_video_trunk

#: BatchNorm ε of the official code (Chainer's default)
BN_EPS = 2e-5
#: BN γ floor of the official γ clipping, as a fraction of the running std
GAMMA_FLOOR = 0.01


@dataclass(frozen=True)
class TGANConfig:
    """Sizes and training settings; the defaults are the paper's (64×64×16)."""

    dim_z: int = 100  # K0 = K1: size of z_0 and of every z_1^t
    frames: int = 16  # T = 2^n, n doublings in G0; D needs T = resolution / 4
    resolution: int = 64  # H = W, a power of two >= 8
    channels: int = 3
    ngf: int = 64  # G0 widths 8, 4, 2, 2·ngf; G1 4×4 map ngf·2^(L−1), halved L times
    ndf: int = 64  # D width of the first layer, doubled per layer
    loss: str = "wgan"  # the paper's Wasserstein objective
    svc_every: int = 5  # SVC after every svc_every-th D update
    lr_g: float = 5e-5
    lr_d: float = 5e-5
    ema_decay: float = 0.0  # EMA of G for sampling; 0 = off (paper)
    init: str = "official"  # "official": see official_init; "torch": PyTorch's init

    @property
    def layers(self) -> int:
        """L = log2(resolution) − 2: G1's upsamplings from 4×4, D's strided convs."""
        return int(math.log2(self.resolution)) - 2

    def __post_init__(self) -> None:
        res, t = self.resolution, self.frames
        if res < 8 or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {res}")
        if t < 2 or t & (t - 1):
            raise ValueError(
                f"frames must be a power of two >= 2 (G0 doubles time from 1), got {t}"
            )
        if t != res // 4:
            raise ValueError(
                f"frames must be resolution/4 = {res // 4} at resolution {res}: D's "
                f"{self.layers} stride-2 convs take T×H×W to 1×4×4 (16 frames at "
                f"64×64, 8 at 32×32); got frames={t}"
            )
        if self.loss not in GAN_LOSSES:
            raise ValueError(f"loss must be one of {GAN_LOSSES}, got {self.loss!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.init not in WEIGHT_INITS:
            raise ValueError(f"init must be one of {WEIGHT_INITS}, got {self.init!r}")
        for name in ("dim_z", "channels", "ndf", "svc_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.ngf < 2 or self.ngf % 2:
            raise ValueError(
                f"ngf must be an even number >= 2 (G1's last width is ngf/2), "
                f"got {self.ngf}"
            )


class TemporalGenerator(nn.Module):
    """G0: z_0 as a length-1 sequence, a k1 transposed conv to 8·ngf
    channels, then log2(T) transposed 1-D convs k4 s2 p1 (widths 4, 2, 2… ·ngf, BN,
    ReLU; the last to K1 channels, tanh): ``(B, K0) → z_1 (B, T, K1)``."""

    def __init__(self, dim_z: int, frames: int, ngf: int) -> None:
        super().__init__()
        widths = [ngf * max(8 >> i, 2) for i in range(int(math.log2(frames)))]
        layers: list[nn.Module] = [
            nn.ConvTranspose1d(dim_z, widths[0], 1),
            nn.BatchNorm1d(widths[0], eps=BN_EPS),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [
                nn.ConvTranspose1d(c_in, c_out, 4, 2, 1),
                nn.BatchNorm1d(c_out, eps=BN_EPS),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose1d(widths[-1], dim_z, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z_0: torch.Tensor) -> torch.Tensor:
        return rearrange(self.net(z_0[:, :, None]), "b k t -> b t k")


def _latent_branch(dim_z: int, width: int) -> nn.Sequential:
    """One input of G1: bias-free linear to a ``width``×4×4 map, BN over its
    features, ReLU (the map is reshaped in :meth:`FrameGenerator.forward`)."""
    features = width * 4 * 4
    return nn.Sequential(
        nn.Linear(dim_z, features, bias=False),
        nn.BatchNorm1d(features, eps=BN_EPS),
        nn.ReLU(True),
    )


class FrameGenerator(nn.Module):
    """G1, the image generator: z_0 and z_1^t each to a 4×4 map (half of
    ngf·2^(L−1) channels), concatenated; L bias-free transposed convs k4 s2 p1
    halving the width (BN, ReLU); a transposed conv k3 s1 p1 to the image, tanh."""

    def __init__(self, dim_z: int, resolution: int, ngf: int, channels: int) -> None:
        super().__init__()
        ups = int(math.log2(resolution)) - 2
        width = ngf * 2 ** (ups - 1)
        self.slow = _latent_branch(dim_z, width // 2)
        self.fast = _latent_branch(dim_z, width // 2)
        layers: list[nn.Module] = []
        for _ in range(ups):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2, eps=BN_EPS),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z_0: torch.Tensor, z_1: torch.Tensor) -> torch.Tensor:
        """z_0, z_1 ``(N, K)`` → images ``(N, C, H, W)`` in [-1, 1]."""
        maps = [
            rearrange(branch(z), "n (c h w) -> n c h w", h=4, w=4)
            for branch, z in ((self.slow, z_0), (self.fast, z_1))
        ]
        return self.net(torch.cat(maps, dim=1))


class VideoGenerator(nn.Module):
    """G = G1 ∘ (z_0, G0): the video ``[G1(z_0, z_1^1), …, G1(z_0, z_1^T)]``."""

    def __init__(self, cfg: TGANConfig) -> None:
        super().__init__()
        self.g0 = TemporalGenerator(cfg.dim_z, cfg.frames, cfg.ngf)
        self.g1 = FrameGenerator(cfg.dim_z, cfg.resolution, cfg.ngf, cfg.channels)

    def forward(self, z_0: torch.Tensor, z_0_G0: torch.Tensor) -> torch.Tensor:
        """G1's z_0 ``(B, K0)`` and G0's z_0 ``(B, K0)`` (the paper: the same
        tensor) → videos ``(B, C, T, H, W)`` in [-1, 1].

        G1 runs on all B·T frames as one batch, z_0 repeated per frame, as the
        official code does (its BN statistics are over frames)."""
        z_1 = self.g0(z_0_G0)
        t = z_1.shape[1]
        frames = self.g1(
            repeat(z_0, "b k -> (b t) k", t=t), rearrange(z_1, "b t k -> (b t) k")
        )
        return rearrange(frames, "(b t) c h w -> b c t h w", t=t)


class VideoDiscriminator(nn.Module):
    """D: L Conv3d k4 s2 p1 (widths ndf·2^i, BN from the second, LReLU
    0.2) to one frame of 4×4, then a Conv2d k4 to one critic score."""

    def __init__(self, cfg: TGANConfig) -> None:
        super().__init__()
        self.trunk = strided_video_trunk(cfg.channels, cfg.ndf, cfg.layers, BN_EPS)
        self.head = nn.Conv2d(cfg.ndf * 2 ** (cfg.layers - 1), 1, 4)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` → scores ``(B,)``."""
        h = rearrange(self.trunk(videos), "b c 1 h w -> b c h w")
        return self.head(h).flatten()


#: the layers whose weights SVC clips: linear and convolutional
LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@torch.no_grad()
def clip_singular_values(weight: torch.Tensor) -> None:
    """SVC of one weight, in place: ``Ŵ`` (the weight as ``N_out × (N_in·∏k)``)
    becomes ``U min(Σ, 1) Vᵀ``. The SVD is in float64, so a float32 weight already
    within the bound comes back unchanged."""
    matrix = weight.reshape(weight.shape[0], -1).double()
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    weight.copy_(((u * s.clamp(max=1)) @ vh).reshape(weight.shape))


@torch.no_grad()
def clip_batchnorm_scale(bn: nn.modules.batchnorm._BatchNorm) -> None:
    """γ of one BN clipped to ``[0.01·σ, σ]``, σ = √(running variance), in place."""
    sigma = bn.running_var.sqrt()
    bn.weight.copy_(bn.weight.clamp(GAMMA_FLOOR * sigma, sigma))


def singular_value_clipping(net: nn.Module) -> None:
    """SVC of every linear and conv weight of ``net`` and γ clipping of its BNs."""
    for module in net.modules():
        if isinstance(module, LINEAR_LAYERS):
            clip_singular_values(module.weight)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            clip_batchnorm_scale(module)


def svc_due(step: int, every: int) -> bool:
    """Whether SVC follows the update of ``fit``'s 0-based ``step``: the official
    updater counts iterations from 1 and clips after iterations every, 2·every, …"""
    return (step + 1) % every == 0


@torch.no_grad()
def official_init(g: VideoGenerator, d: VideoDiscriminator) -> None:
    """The init of the official UCF-101 SVC config: G0 and D weights
    ~ N(0, 1/fan_in), G1 weights ~ U(−0.01, 0.01), biases 0 (BN keeps γ = 1,
    β = 0). PyTorch's fan_in of a transposed conv, ``out·∏k``, is Chainer's."""
    lecun = partial(nn.init.kaiming_normal_, nonlinearity="linear")  # std 1/√fan_in
    uniform = partial(nn.init.uniform_, a=-0.01, b=0.01)
    weighted = (*LINEAR_LAYERS, nn.ConvTranspose1d, nn.ConvTranspose2d)
    for net, draw in ((g.g0, lecun), (d, lecun), (g.g1, uniform)):
        for module in net.modules():
            if isinstance(module, weighted):
                draw(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


class TGAN(SamplesFromG):
    """The Method of the paper: WGAN updates of G = (G0, G1) and D, SVC of D."""

    appearance_code = "z_0"
    motion_code = "z_0_G0"

    def __init__(self, cfg: TGANConfig = TGANConfig()) -> None:
        self.cfg = cfg
        self.config = {"model": "tgan", **asdict(cfg)}
        self.nets: dict[str, nn.Module] = {
            "G": VideoGenerator(cfg),
            "D": VideoDiscriminator(cfg),
        }
        if cfg.init == "official":
            official_init(self.nets["G"], self.nets["D"])
        if cfg.ema_decay > 0:
            self.nets["G_ema"] = copy.deepcopy(self.nets["G"]).requires_grad_(False)

        def rmsprop(name: str, lr: float) -> torch.optim.RMSprop:
            params = self.nets[name].parameters()
            return torch.optim.RMSprop(params, lr, alpha=0.99, eps=1e-8)

        self.opts = {"G": rmsprop("G", cfg.lr_g), "D": rmsprop("D", cfg.lr_d)}

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """z_0 ``(n, K0)`` ~ U(−1, 1), the same tensor under ``"z_0"`` (G1) and
        ``"z_0_G0"`` (G0); see the module docstring."""
        z_0 = (torch.rand(n, self.cfg.dim_z, generator=gen) * 2 - 1).to(self.device)
        return {"z_0": z_0, "z_0_G0": z_0}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(codes["z_0"].to(self.device), codes["z_0_G0"].to(self.device))

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One iteration of the official updater: D scores fresh fakes, then reals;
        G's loss and D's loss are differentiated at these scores and both nets
        step; SVC of D when :func:`svc_due`."""
        cfg, nets, opts = self.cfg, self.nets, self.opts
        real = batch["video"]
        fake = self._run(nets["G"], self.codes(real.shape[0]))
        fake_out = nets["D"](fake)
        real_out = nets["D"](real)
        d_loss = discriminator_loss(real_out, fake_out, cfg.loss)
        g_loss = generator_loss(fake_out, cfg.loss)
        for opt in opts.values():
            opt.zero_grad(set_to_none=True)
        g_loss.backward(inputs=list(nets["G"].parameters()), retain_graph=True)
        d_loss.backward(inputs=list(nets["D"].parameters()))
        opts["G"].step()
        opts["D"].step()
        if svc_due(step, cfg.svc_every):
            singular_value_clipping(nets["D"])
        if "G_ema" in nets:
            ema_update(nets["G_ema"], nets["G"], cfg.ema_decay)
        return {"d_video": d_loss.item(), "g_video": g_loss.item()}
