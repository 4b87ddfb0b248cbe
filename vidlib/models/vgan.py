"""VGAN: Generating Videos with Scene Dynamics (Vondrick, Pirsiavash, Torralba 2016).

One code ``z ~ N(0, I_100)`` drives two streams (Sec. 2.2): a 2-D background stream
b(z), a static image, and a 3-D foreground stream that gives a moving foreground
f(z) (tanh) and a spatio-temporal mask m(z) ∈ [0, 1] (sigmoid). The mask chooses
between them at every pixel and frame,

    G(z) = m(z) ⊙ f(z) + (1 − m(z)) ⊙ b(z),

with b replicated over the T = 32 frames of a 64×64 clip. A 3-D convolutional D
plays the GAN game, and an L1 penalty on the mask (λ = 0.1) asks G to use the
static background where it can:

    min_G max_D  E_x[log D(x)] + E_z[log(1 − D(G(z)))] + λ‖m(z)‖₁.

Init N(0, 0.01) for every conv, BN γ ~ N(1, 0.02); Adam, lr 2e-4, β1 = 0.5; batch 64.

What the paper leaves open is taken from the official code (cvondrick/videogan
@88c0c4d, ``main.lua``; reference §7):

* D ends in **2 logits** (real, fake) under a softmax cross-entropy. With the score
  d = l_real − l_fake, CE(l, real) = −log σ(d) and CE(l, fake) = −log σ(−d), so D's
  loss is the BCE of :func:`vidlib.losses.discriminator_loss` on d, and G's (trained
  on the "real" label, as there) the non-saturating −log σ(d) of
  :func:`vidlib.losses.generator_loss`; a test checks the equality.
* ‖m‖₁ is normalised as ``nn.L1Penalty(λ, sizeAverage=true)`` does there:
  λ·Σ|m| / N over all N = B·T·H·W mask values of the batch, i.e. λ·mean(m) beside
  the batch-mean GAN loss. λ = 0.1 was chosen with this normalisation; a plain sum
  over 64·32·64·64 values would swamp the GAN term. The penalty enters G's update
  only, as there.
* Every conv has a bias (Torch's default), set to 0 at init; D's BatchNorm has
  ε = 1e-3 (G's keeps the default). These give the paper-size counts G 16.2 M
  (background 3.6 M + foreground 12.7 M) and D 11.06 M.

Where the official code differs, and what this module does:

* The G update there reuses the D update's batch of z and the D outputs computed
  before D's Adam step; here G draws fresh codes and sees the updated D, as the
  other models of vidlib do.
* The learning-rate decay of ``main.lua`` (÷10 every 1000 epochs of a 100-epoch
  run) never fires and is not reproduced.

Evaluations of other papers compare VGAN's clips at 16 frames (MoCoGAN: every
second frame of the 32). ``output_frames`` and ``frame_stride`` cut what
:meth:`VGAN.generate` returns (what samples and metrics see); training always sees
all T frames.

The cpu profile adds training settings the paper does not use (two learning rates,
an EMA of G, R1); each is a switch here, off by default.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from einops import rearrange
from torch import nn

from vidlib.losses import (
    discriminator_loss,
    generator_loss,
    lazy_r1_weight,
    r1_penalty,
)
from vidlib.method import SamplesFromG
from vidlib.nn import (
    WEIGHT_INITS,
    ImageGenerator,
    ema_update,
    normal_init,
    strided_video_trunk,
)

#: the convs that ``main.lua``'s weights_init draws from N(0, 0.01)
CONVS = (nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True)
class VGANConfig:
    """Sizes and training settings; the defaults are the paper's (64×64×32)."""

    dim_z: int = 100
    frames: int = 32  # T, a multiple of 2^L (L = log2(resolution) − 2)
    resolution: int = 64  # H = W, a power of two >= 8
    channels: int = 3
    ngf: int = 64  # width of G's last hidden layers (both streams)
    ndf: int = 64  # width of D's first layer
    lambda_mask: float = 0.1  # λ of the mask's L1 penalty
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    init: str = "official"  # "official": N(0, 0.01) convs, BN γ ~ N(1, 0.02); "torch"
    output_frames: int = 0  # frames generate() returns; 0 = all it strides over
    frame_stride: int = 1  # generate() keeps every frame_stride-th frame
    ema_decay: float = 0.0  # EMA of G for sampling; 0 = off (paper)
    r1_gamma: float = 0.0  # γ of a lazy R1 penalty on D; 0 = off (paper)
    r1_every: int = 16  # R1 on every r1_every-th D update, scaled by r1_every

    @property
    def upsamplings(self) -> int:
        """L, the stride-2 layers of each stream (and of D): 4×4 → resolution."""
        return int(math.log2(self.resolution)) - 2

    def __post_init__(self) -> None:
        res = self.resolution
        if res < 8 or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {res}")
        step = 2**self.upsamplings
        if self.frames < 1 or self.frames % step:
            raise ValueError(
                f"frames must be a positive multiple of {step} at resolution {res} "
                f"(each of the L = {self.upsamplings} stride-2 layers doubles T): "
                f"one of {step}, {2 * step}, {3 * step}, ...; got {self.frames}"
            )
        for name in ("dim_z", "channels", "ngf", "ndf", "frame_stride", "r1_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lambda_mask < 0:
            raise ValueError(f"lambda_mask must be >= 0, got {self.lambda_mask}")
        if self.r1_gamma < 0:
            raise ValueError(f"r1_gamma must be >= 0, got {self.r1_gamma}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.init not in WEIGHT_INITS:
            raise ValueError(f"init must be one of {WEIGHT_INITS}, got {self.init!r}")
        strided = len(range(0, self.frames, self.frame_stride))
        if not 0 <= self.output_frames <= strided:
            raise ValueError(
                f"output_frames must be in [0, {strided}] (0 = all; {self.frames} "
                f"frames with frame_stride={self.frame_stride}), "
                f"got {self.output_frames}"
            )


class Streams(NamedTuple):
    """The two streams of G for a batch of codes (Sec. 2.2)."""

    f: torch.Tensor  # foreground (B, C, T, H, W) in [-1, 1]
    m: torch.Tensor  # mask (B, 1, T, H, W) in [0, 1]
    b: torch.Tensor  # background (B, C, H, W) in [-1, 1]

    @property
    def video(self) -> torch.Tensor:
        """G(z) = m ⊙ f + (1 − m) ⊙ b, b replicated over time: ``(B, C, T, H, W)``."""
        b = rearrange(self.b, "b c h w -> b c 1 h w")
        return self.m * self.f + (1 - self.m) * b


def mask_penalty(m: torch.Tensor, lam: float) -> torch.Tensor:
    """λ‖m‖₁ normalised by the number of mask values (``nn.L1Penalty`` with
    ``sizeAverage``): λ·Σ|m| / N over the whole batch."""
    return lam * m.abs().sum() / m.numel()


def _up3d(c_in: int, c_out: int) -> nn.ConvTranspose3d:
    """ConvT3d k4 s2 p1: doubles T, H and W."""
    return nn.ConvTranspose3d(c_in, c_out, 4, 2, 1)


class ForegroundStream(nn.Module):
    """The 3-D stream: z → f(z), m(z) (Sec. 2.2, ``net_video`` of ``main.lua``).

    ConvT3d dim_z → ngf·2^(L−1), kernel (T/2^L, 4, 4); L − 1 ConvT3d k4 s2 p1 halving
    the width (BN, ReLU after each); then two ConvT3d k4 s2 p1 heads from ngf: the
    video f (→ C, tanh) and the mask m (→ 1, sigmoid).
    """

    def __init__(self, cfg: VGANConfig) -> None:
        super().__init__()
        ups = cfg.upsamplings
        width = cfg.ngf * 2 ** (ups - 1)
        kernel = (cfg.frames // 2**ups, 4, 4)
        layers: list[nn.Module] = [
            nn.ConvTranspose3d(cfg.dim_z, width, kernel),
            nn.BatchNorm3d(width),
            nn.ReLU(True),
        ]
        for _ in range(ups - 1):
            layers += [
                _up3d(width, width // 2),
                nn.BatchNorm3d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        self.trunk = nn.Sequential(*layers)
        self.video = nn.Sequential(_up3d(width, cfg.channels), nn.Tanh())
        self.mask = nn.Sequential(_up3d(width, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z ``(B, d)`` → f ``(B, C, T, H, W)``, m ``(B, 1, T, H, W)``."""
        h = self.trunk(rearrange(z, "b d -> b d 1 1 1"))
        return self.video(h), self.mask(h)


class VideoGenerator(nn.Module):
    """G: the static background stream (a 2-D DCGAN generator) and the foreground
    stream, both fed the same z (Sec. 2.2)."""

    def __init__(self, cfg: VGANConfig) -> None:
        super().__init__()
        self.background = ImageGenerator(
            cfg.dim_z, cfg.resolution, cfg.ngf, cfg.channels, bias=True
        )
        self.foreground = ForegroundStream(cfg)

    def forward(self, z: torch.Tensor) -> Streams:
        """z ``(B, d)`` → the streams f, m, b; ``.video`` composes them."""
        f, m = self.foreground(z)
        return Streams(f, m, self.background(z))


class VideoDiscriminator(nn.Module):
    """D: L Conv3d k4 s2 p1 (widths ndf·2^i, BN ε = 1e-3 from the second, LReLU
    0.2), then a Conv3d with kernel (T/2^L, 4, 4) to the 2 logits (real, fake)."""

    def __init__(self, cfg: VGANConfig) -> None:
        super().__init__()
        ups = cfg.upsamplings
        self.trunk = strided_video_trunk(cfg.channels, cfg.ndf, ups, bn_eps=1e-3)
        kernel = (cfg.frames // 2**ups, 4, 4)
        self.head = nn.Conv3d(cfg.ndf * 2 ** (ups - 1), 2, kernel)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` → logits ``(B, 2)``: real, fake."""
        return rearrange(self.head(self.trunk(videos)), "b k 1 1 1 -> b k")


def realness(logits: torch.Tensor) -> torch.Tensor:
    """d = l_real − l_fake: the 2-logit softmax CE is BCE on d (module docstring)."""
    return logits[:, 0] - logits[:, 1]


class VGAN(SamplesFromG):
    """The Method of the paper: alternating D and G updates of the two-stream GAN."""

    appearance_code = None  # one z drives both streams
    motion_code = None

    def __init__(self, cfg: VGANConfig = VGANConfig()) -> None:
        self.cfg = cfg
        self.config = {"model": "vgan", **asdict(cfg)}
        self.nets: dict[str, nn.Module] = {
            "G": VideoGenerator(cfg),
            "D": VideoDiscriminator(cfg),
        }
        if cfg.init == "official":
            for net in self.nets.values():
                normal_init(net, CONVS, std=0.01, bn_std=0.02, zero_bias=True)
        if cfg.ema_decay > 0:
            self.nets["G_ema"] = copy.deepcopy(self.nets["G"]).requires_grad_(False)
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {
            "G": torch.optim.Adam(self.nets["G"].parameters(), cfg.lr_g, betas),
            "D": torch.optim.Adam(self.nets["D"].parameters(), cfg.lr_d, betas),
        }

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """z ``(n, dim_z)`` ~ N(0, I) on the Method's device."""
        return {"z": torch.randn(n, self.cfg.dim_z, generator=gen).to(self.device)}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """All T frames of G(z) of ``net``: ``(B, C, T, H, W)`` in [-1, 1]."""
        return net(codes["z"].to(self.device)).video

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Videos of the sampling generator, every ``frame_stride``-th frame, the
        first ``output_frames`` of them (all when 0): ``(B, C, T', H, W)``."""
        videos = super().generate(codes)[:, :, :: self.cfg.frame_stride]
        return videos[:, :, : self.cfg.output_frames or None]

    def decompose(self, codes: dict[str, torch.Tensor]) -> Streams:
        """The streams f, m, b of the sampling generator (all T frames); call it in
        :func:`vidlib.method.eval_mode` under ``torch.no_grad()`` to plot them."""
        return self.generator(codes["z"].to(self.device))

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One D update on real clips and G's clips, then one G update (GAN loss plus
        the mask penalty) on fresh codes."""
        cfg, nets, opts = self.cfg, self.nets, self.opts
        real = batch["video"]
        b = real.shape[0]

        with torch.no_grad():
            fake = self._run(nets["G"], self.codes(b))
        r1_weight = lazy_r1_weight(cfg.r1_gamma, cfg.r1_every, step)
        if r1_weight:
            real = real.detach().requires_grad_(True)
        d_real = realness(nets["D"](real))
        d_video = discriminator_loss(d_real, realness(nets["D"](fake)), "bce")
        d_r1 = r1_weight * r1_penalty(d_real, real) if r1_weight else 0.0
        opts["D"].zero_grad(set_to_none=True)
        (d_video + d_r1).backward()
        opts["D"].step()

        streams = nets["G"](self.codes(b)["z"])
        g_video = generator_loss(realness(nets["D"](streams.video)), "bce")
        g_mask = mask_penalty(streams.m, cfg.lambda_mask)
        opts["G"].zero_grad(set_to_none=True)
        (g_video + g_mask).backward()
        opts["G"].step()
        if "G_ema" in nets:
            ema_update(nets["G_ema"], nets["G"], cfg.ema_decay)

        losses = dict(d_video=d_video, g_video=g_video, g_mask=g_mask)
        if r1_weight:
            losses |= dict(d_r1=d_r1)
        return {name: value.item() for name, value in losses.items()}
