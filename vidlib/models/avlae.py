"""AVLAE: Autoencoding Video Latents for Adversarial Video Generation (Kasaraneni,
arXiv 2201.06888, 2022).

An adversarial latent autoencoder (ALAE, Pidhorskyi et al. 2020) for video. Two
independent mapping networks F_A and F_M take an appearance code and a motion code
``z_A, z_M ~ N(0, I_128)`` to intermediate codes ``w_A, w_M ∈ R^128``, and a
spatio-temporal generator G turns their concatenation ``w_V = [w_A; w_M]`` into a
clip (Sec. 4.1, Eq. 2):

    x̂ = G(F_A(z_A), F_M(z_M)).

The discriminator side is split into encoders and latent discriminators (Sec. 4.2).
The appearance encoder E_A maps one random frame ``x_t`` of a clip to ``w'_A`` and
D_I judges that code; the motion encoder E_M is a frozen, differentiable optical-flow
estimator (RAFT, flow at 1/8 of the resolution) followed by trainable factorised
convolutions E_M*, which map the T − 1 flows of a clip to ``w'_M``; D_V judges the
clip's own conv features concatenated with ``w'_M``. The adversarial objective
(Eqs. 6-9) is

    min_{F_A, F_M, G} max_{E_A, E_M*, D_I, D_V}  L_I + L_V,
    L_V = E_x[log D_V(x, E_M(x))] + E_z[log(1 − D_V(x̂, E_M(x̂)))],      (8)
    L_I = E_{x_t}[log D_I(E_A(x_t))] + E_z[log(1 − D_I(E_A(x̂_t)))],       (9)

and the encoders invert the generator in latent space (Eq. 10, the constraint of
Eq. 5 that encoder and mapping codes share their distributions):

    min_{E_A, E_M*, G}  K1‖F_M(z_M) − E_M(x̂)‖²₂ + K2‖F_A(z_A) − E_A(x̂_t)‖²₂.   (10)

Algorithm 1 alternates three updates per iteration, each on fresh codes: Step I
(E_M*, D_V) on Eq. (8) and (E_A, D_I) on Eq. (9); Step II (F_A, F_M, G) on the
generator side of both, ``log(1 − D(·))`` as written (line 21); Step III (E_A, E_M*,
G) on Eq. (10). The flow estimator is never updated; it only passes gradients to G.
Adam, lr 2e-4, β = (0.5, 0.999), for all networks; K1 = K2 = 1; 128×128×16 clips;
F_A and F_M have 5 fully connected layers, D_I and D_V 3 (Sec. 5.2). Table 3 ablates
K1 = 0, K2 = 0, both, and both without E_M (``motion_encoder=False``: D_V's first
fully connected layer loses the code's inputs).

There is no official AVLAE code (reference §4). Where the paper is silent we follow
ALAE's official code (podgorskiy/ALAE @42bcf2e, ``train_alae.py``, ``model.py``,
``net.py``), or choose, as listed:

* Optimisers: ALAE keeps one Adam for the decoder side (F, G) and one for the
  encoder side (E, D), each stepped in every step that updates one of its networks,
  so their moments persist across the three steps. Here ``opts["G"]`` holds F_A,
  F_M and G and ``opts["E"]`` holds E_A, E_M*, D_I and D_V. Adam is per parameter,
  so this equals Alg. 1's four ADAM calls per iteration with one state per network.
  Gradients are set to ``None`` before each step, and Adam skips parameters without
  one, so a step moves only the networks Alg. 1 names (ALAE zeroes them instead, and
  its Step 3 moves D and F with Adam's momentum on zero gradients).
* Step III: Alg. 1 line 28 differentiates w.r.t. E_A, E_M* and G only, so ``w_A``
  and ``w_M`` are computed without gradient, both as targets (ALAE detaches the
  target too) and as G's input (ALAE lets the loss reach F through G's input).
* ‖·‖²₂ is read as ALAE writes it and computes it (its latent loss, ``torch.mean``
  of the squared difference): the mean over the code's 128 dimensions and the
  batch. Summed over the dimensions instead, the term starts about 128 times larger
  than the adversarial losses and swamps them. (Fig. 1's caption calls the
  reconstruction an L1 loss; Eq. 10 and Alg. 1 write ‖·‖²₂, which we follow.)
* F_A, F_M: leaky ReLU (slope 0.2, ALAE's) *between* the 5 layers, as Sec. 4.1
  says, all 128 wide, He-initialised with zero biases (the scale ALAE's equalised
  layers start from; see :func:`mapping`). ALAE's mapping also follows its last layer
  with a leaky ReLU, pixel-normalises z first and scales its learning rate at run time
  (equalised learning rate, lr × 0.01 for F); none is reproduced.
* D_I, D_V: 3 fully connected layers 128 wide with no activation between them, as
  ALAE's D (``MappingD``); D_V's first layer takes 128 conv features + 128 of
  ``w'_M``.
* Step I computes both losses and takes one step of ``opts["E"]`` on their sum: the
  two parameter sets are disjoint and each loss reaches only its own, so this is
  lines 12-15. Step I's flows are computed without gradient (its clips are data or
  detached samples). ALAE adds R1 (γ = 10) to its D step; Alg. 1 has none, so it is
  a switch here (``r1_gamma``, lazy, off by default).
* Widths (the paper gives none; Fig. 1's dimensions are not in its text): G's first
  (1+2)D transposed conv takes ``w_V`` (a 1×1×1 map) to 2×4×4; each of L =
  log2(H) − 2 levels doubles H and W, the first log2(T/2) also T (temporal kernel 4,
  else 3), widths ngf·min(8, 2^(L−n)) at level n (ngf = 80: 640-640-640-320-160-80
  at 128×128); BN and ReLU after every conv (``transposed_video_conv``, intermediate
  width = output width), then a Conv3d k(1,3,3) to RGB and tanh. ngf = 80 gives
  F_A + F_M + G 26.6 M parameters at 128×128×16, the "nearly same number" as G3AN's
  ≈ 25 M that Sec. 5.3 states (ngf = 64 would give 17.1 M). E_A: Conv2d k4 s2 p1 to
  4×4, widths ndf·min(8, 2^i), leaky ReLU, then Conv2d k4 to w'_A. E_M* and D_V's
  conv part: :func:`vidlib.nn.factorised_video_encoder` with the same widths (E_M*
  from the 2-channel flow at H/stride). No normalisation on the encoder side.
  PyTorch's default init everywhere (ALAE's equalised learning rate is not used).
* E_A sees one uniformly random frame per clip (:func:`vidlib.nn.sample_frames`),
  drawn anew for each use.

The flow estimator is injected (``AVLAE(cfg, flow)``, contract in
:mod:`vidlib.flow`); the config names the one a record wants (``flow``,
``flow_weights``). It is frozen, not in ``nets`` and not checkpointed.

The cpu profile may change the loss (``"bce"``, non-saturating), the learning rate,
the betas, add an EMA of the generator side (F_A, F_M and G: samples run all three;
ALAE averages every network), add ALAE's R1 penalty on real clips to Step I
(lazily, through the flow estimator for D_V), give ``w_V`` to every level of G
(``w_every_level``, concatenated; ALAE's generator gives ``w`` to every layer by
AdaIN) or add ``w_V`` to every level's output through a fully connected layer,
BatchNorm over the batch and ReLU (``w_stream``, after G3AN's temporal stream), or grow
motion features over time from ``w_M`` and add them to every level (``m_stream``,
G3AN's temporal stream G_T itself); each is a switch here, off or at the paper's value
by default.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from einops import rearrange, repeat
from torch import nn

from vidlib.flow import freeze, video_flow
from vidlib.losses import (
    GAN_LOSSES,
    discriminator_loss,
    generator_loss,
    lazy_r1_weight,
    r1_penalty,
)
from vidlib.method import SamplesFromG
from vidlib.nn import (
    Transposed,
    ema_update,
    factorised_video_encoder,
    sample_frames,
    transposed_time_conv,
    transposed_video_conv,
)

#: estimators a record may name for E_M (resolved by :func:`vidlib.method.build`)
FLOW_ESTIMATORS: tuple[str, ...] = ("raft_large", "raft_small", "shapes")
#: fully connected layers of F_A and F_M, and of D_I and D_V (Sec. 5.2)
MAPPING_LAYERS = 5
DISCRIMINATOR_LAYERS = 3


@dataclass(frozen=True)
class AVLAEConfig:
    """Sizes and training settings; the defaults are the paper's (128×128×16)."""

    dim_z: int = 128  # z_A, z_M
    dim_w: int = 128  # w_A, w_M, w'_A, w'_M; also F's and D's hidden width
    frames: int = 16  # T = 2·2^u for u <= L: a power of two in [2, 2^(L+1)]
    resolution: int = 128  # H = W, a power of two >= 8
    channels: int = 3
    ngf: int = 80  # G's widths ngf·min(8, 2^(L−n)) (module docstring)
    ndf: int = 64  # E_A, E_M*, D_V conv widths ndf·min(8, 2^i)
    flow: str = "raft_large"  # the estimator of E_M (RAFT, Sec. 4.2)
    flow_weights: str | None = None  # a RAFT weights file
    flow_steps: int | None = None  # training of the embedded estimator; None: default
    motion_encoder: bool = True  # E_M and its code in D_V (Table 3 ablates it)
    k1: float = 1.0  # K1 of Eq. (10): the w_M reconstruction; 0 removes it
    k2: float = 1.0  # K2 of Eq. (10): the w_A reconstruction; 0 removes it
    loss: str = "minimax"  # Alg. 1's log(1 − D) for G; "bce" is non-saturating
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.0  # EMA of F_A, F_M and G for sampling; 0 = off (paper)
    r1_gamma: float = 0.0  # γ of a lazy R1 on D_I∘E_A and D_V; 0 = off (Alg. 1)
    r1_every: int = 16  # R1 on every r1_every-th Step I, scaled by r1_every
    w_every_level: bool = (
        False  # w_V also enters each level of G (ALAE's G); paper: off
    )
    w_stream: bool = False  # w_V added at each level by Linear, BN, ReLU; paper: off
    m_stream: bool = False  # G3AN's temporal stream G_T grown from w_M; paper: off

    @property
    def levels(self) -> int:
        """L = log2(resolution) − 2: G's upsampling levels after 4×4, E_A's and
        D_V's stride-2 layers down to 4×4."""
        return int(math.log2(self.resolution)) - 2

    @property
    def temporal_upsamples(self) -> int:
        """u = log2(T / 2): G's levels that double time after its first 2 frames."""
        return int(math.log2(self.frames)) - 1

    def __post_init__(self) -> None:
        res, t = self.resolution, self.frames
        if res < 8 or res & (res - 1):
            raise ValueError(
                f"resolution must be a power of two >= 8 (G starts at 4×4), got {res}"
            )
        longest = 2 ** (self.levels + 1)
        if t < 2 or t & (t - 1) or t > longest:
            allowed = ", ".join(str(2**i) for i in range(1, self.levels + 2))
            raise ValueError(
                f"frames must be a power of two in [2, {longest}] at resolution {res} "
                "(E_M needs T − 1 >= 1 flows; G makes 2 frames and each of its "
                f"{self.levels} levels may double them): one of {allowed}; got {t}"
            )
        if self.flow not in FLOW_ESTIMATORS:
            raise ValueError(
                f"flow must be one of {FLOW_ESTIMATORS}, got {self.flow!r}"
            )
        steps = self.flow_steps
        if steps is not None and (self.flow != "shapes" or steps < 1):
            raise ValueError(
                "flow_steps trains the embedded estimator (flow: shapes) and must be "
                f">= 1, got flow_steps={self.flow_steps} with flow={self.flow!r}"
            )
        if self.loss not in GAN_LOSSES:
            raise ValueError(f"loss must be one of {GAN_LOSSES}, got {self.loss!r}")
        for name in ("k1", "k2"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.k1 and not self.motion_encoder:
            raise ValueError(
                f"k1 must be 0 when motion_encoder is False (no E_M, so no w'_M to "
                f"reconstruct; Table 3's last row), got k1={self.k1}"
            )
        if self.r1_gamma < 0 or self.r1_every < 1:
            raise ValueError(
                f"r1_gamma must be >= 0 and r1_every >= 1, got {self.r1_gamma} "
                f"and {self.r1_every}"
            )
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("dim_z", "dim_w", "channels", "ngf", "ndf"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def mapping(dim_z: int, dim_w: int) -> nn.Sequential:
    """F_A or F_M (Sec. 4.1): 5 fully connected layers ``dim_z → dim_w → … → dim_w``
    with leaky ReLU (0.2) between them: ``(B, dim_z) → (B, dim_w)``.

    He-initialised for leaky ReLU 0.2 with zero biases, the scale ALAE's equalised
    layers have at initialisation, so ``w`` varies with ``z`` as much as ``z`` does
    (PyTorch's default shrinks the variance about threefold per layer, and after five
    layers every ``z`` gives nearly the same ``w``)."""
    layers: list[nn.Module] = [nn.Linear(dim_z, dim_w)]
    for _ in range(MAPPING_LAYERS - 1):
        layers += [nn.LeakyReLU(0.2, True), nn.Linear(dim_w, dim_w)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def latent_discriminator(dim_in: int, width: int) -> nn.Sequential:
    """The 3 fully connected layers of D_I or D_V (Sec. 5.2), ``dim_in → width →
    width → 1`` with no activation between them (ALAE's D): ``(B, dim_in) → (B,)``."""
    widths = [dim_in] + [width] * (DISCRIMINATOR_LAYERS - 1) + [1]
    layers = [nn.Linear(a, b) for a, b in zip(widths, widths[1:], strict=False)]
    return nn.Sequential(*layers, nn.Flatten(0))


def encoder_widths(size: int, ndf: int) -> list[int]:
    """Widths of the stride-2 layers that take ``size`` (a power of two) down to
    4 (none when it is 4 or less): ndf·2^i, capped at 8·ndf."""
    return [ndf * min(2**i, 8) for i in range(max(0, int(math.log2(size)) - 2))]


def generator_layers(cfg: AVLAEConfig) -> list[tuple[int, Transposed]]:
    """Width and kernels of G's layers: the first takes 1×1×1 to 2×4×4; level
    n = 1..L doubles H and W (k4 s2 p1) and, for n <= u, T (k4 s2 p1; else k3 s1 p1,
    T kept). Widths ngf·min(8, 2^(L−n))."""
    n_levels, u = cfg.levels, cfg.temporal_upsamples
    layers = [(cfg.ngf * min(8, 2**n_levels), Transposed(k_t=2, k_s=4))]
    for n in range(1, n_levels + 1):
        width = cfg.ngf * min(8, 2 ** (n_levels - n))
        if n <= u:
            geometry = Transposed(k_t=4, k_s=4, s_t=2, s_s=2, p_t=1, p_s=1)
        else:
            geometry = Transposed(k_t=3, k_s=4, s_t=1, s_s=2, p_t=1, p_s=1)
        layers.append((width, geometry))
    return layers


class VideoGenerator(nn.Module):
    """G (Sec. 4.1): factorised (1+2)D transposed convolutions from ``w_V`` to the
    clip (:func:`generator_layers`, BN + ReLU after each conv), a Conv3d k(1,3,3) to
    RGB, tanh. Two switches, neither the paper's G:

    * ``w_every_level``: ``w_V`` is also concatenated, constant over time and
      space, to the input of each level after the first, as ALAE's generator gives
      ``w`` to every layer (there by AdaIN).
    * ``w_stream``: each level's output gets ``ReLU(BN(A_n w_V))`` added, constant
      over time and space (:func:`code_stream`): G3AN's temporal stream G_T without
      its time axis.
    * ``m_stream``: G3AN's temporal stream G_T grown from ``w_M``: ``F_T`` starts as
      ``w_M`` over one time step, each level maps it by
      :func:`vidlib.nn.transposed_time_conv` with the level's temporal kernel
      (BatchNorm over batch and time) and adds it, constant over space, to the
      level's output (G3AN's Eq. for ``F_V''``)."""

    def __init__(self, cfg: AVLAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim_w_V = 2 * cfg.dim_w
        self.w_every_level = cfg.w_every_level
        c_in = dim_w_V
        widths = []
        for width, geometry in generator_layers(cfg):
            layers.append(transposed_video_conv(c_in, width, geometry, "1+2d"))
            c_in = width + dim_w_V * cfg.w_every_level
            widths.append(width)
        layers += [nn.Conv3d(width, cfg.channels, (1, 3, 3), padding=(0, 1, 1))]
        self.net = nn.Sequential(*layers, nn.Tanh())
        self.w_stream = (
            nn.ModuleList(code_stream(dim_w_V, width) for width in widths)
            if cfg.w_stream
            else None
        )
        self.m_stream = None
        if cfg.m_stream:
            c_t, streams = cfg.dim_w, []
            for width, geometry in generator_layers(cfg):
                streams.append(transposed_time_conv(c_t, width, geometry))
                c_t = width
            self.m_stream = nn.ModuleList(streams)

    def forward(self, w_A: torch.Tensor, w_M: torch.Tensor) -> torch.Tensor:
        """w_A, w_M ``(B, dim_w)`` → clips ``(B, C, T, H, W)`` in [-1, 1]."""
        w_V = torch.cat([w_A, w_M], dim=1)
        *levels, to_rgb, tanh = self.net
        h = rearrange(w_V, "b d -> b d 1 1 1")
        f_t = rearrange(w_M, "b d -> b d 1")
        for n, level in enumerate(levels):
            if n and self.w_every_level:
                t, height, width = h.shape[2:]
                w = repeat(w_V, "b d -> b d t h w", t=t, h=height, w=width)
                h = torch.cat([h, w], dim=1)
            h = level(h)
            if self.w_stream is not None:
                h = h + rearrange(self.w_stream[n](w_V), "b c -> b c 1 1 1")
            if self.m_stream is not None:
                f_t = self.m_stream[n](f_t)
                h = h + rearrange(f_t, "b c t -> b c t 1 1")
        return tanh(to_rgb(h))


def code_stream(dim_in: int, width: int) -> nn.Sequential:
    """One level of the ``w_stream`` switch: ``(B, dim_in) → (B, width)`` by a
    fully connected layer, BatchNorm and ReLU. BatchNorm over the batch alone keeps
    the added features varying from clip to clip, which G's BatchNorm over batch,
    time and space does not (G3AN's G_T does it over batch and time)."""
    return nn.Sequential(nn.Linear(dim_in, width), nn.BatchNorm1d(width), nn.ReLU(True))


class Generator(nn.Module):
    """The generator side of Fig. 1, ``x̂ = G(F_A(z_A), F_M(z_M))`` (Eq. 2): the
    mapping networks ``F_A``, ``F_M`` and the video generator ``G``."""

    def __init__(self, cfg: AVLAEConfig) -> None:
        super().__init__()
        self.F_A = mapping(cfg.dim_z, cfg.dim_w)
        self.F_M = mapping(cfg.dim_z, cfg.dim_w)
        self.G = VideoGenerator(cfg)

    def forward(self, z_A: torch.Tensor, z_M: torch.Tensor) -> torch.Tensor:
        """z_A, z_M ``(B, dim_z)`` → clips ``(B, C, T, H, W)`` in [-1, 1]."""
        return self.G(self.F_A(z_A), self.F_M(z_M))


class AppearanceEncoder(nn.Sequential):
    """E_A (Sec. 4.2): Conv2d k4 s2 p1 with leaky ReLU 0.2 down to 4×4
    (:func:`encoder_widths`), then a Conv2d k4 to ``w'_A``: frames ``(N, C, H, W)``
    → ``(N, dim_w)``."""

    def __init__(self, cfg: AVLAEConfig) -> None:
        layers: list[nn.Module] = []
        c_in = cfg.channels
        for width in encoder_widths(cfg.resolution, cfg.ndf):
            layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            c_in = width
        super().__init__(*layers, nn.Conv2d(c_in, cfg.dim_w, 4), nn.Flatten())


def motion_encoder(cfg: AVLAEConfig, stride: int) -> nn.Sequential:
    """E_M* (Sec. 4.2, E_M without its flow estimator): factorised (2+1)D convs from
    the T − 1 flows ``(B, 2, T − 1, H/stride, W/stride)`` to ``w'_M (B, dim_w)``."""
    size = cfg.resolution // stride
    widths = encoder_widths(size, cfg.ndf)
    return factorised_video_encoder(2, widths, cfg.frames - 1, size, cfg.dim_w)


class VideoDiscriminator(nn.Module):
    """D_V (Sec. 4.2, Fig. 1): (2+1)D conv features of the clip (dim_w of them),
    concatenated with E_M's code ``w'_M`` before its 3 fully connected layers."""

    def __init__(self, cfg: AVLAEConfig) -> None:
        super().__init__()
        res = cfg.resolution
        widths = encoder_widths(res, cfg.ndf)
        self.features = factorised_video_encoder(
            cfg.channels, widths, cfg.frames, res, cfg.dim_w
        )
        code = cfg.dim_w if cfg.motion_encoder else 0
        self.fc = latent_discriminator(cfg.dim_w + code, cfg.dim_w)

    def forward(
        self, video: torch.Tensor, w_M: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Clips ``(B, C, T, H, W)`` and ``w'_M (B, dim_w)`` (None without E_M) →
        logits ``(B,)``."""
        h = self.features(video)
        if w_M is not None:
            h = torch.cat([h, w_M], dim=1)
        return self.fc(h)


def latent_reconstruction_loss(
    w: torch.Tensor, w_prime: torch.Tensor, k: float
) -> torch.Tensor:
    """One term of Eq. (10), ``K‖w − w'‖²₂``, as ALAE computes its latent loss: the
    squared difference averaged over the code's dimensions and the batch."""
    return k * (w - w_prime).square().mean()


def check_flow(flow: nn.Module | None, resolution: int) -> nn.Module:
    """``flow`` if it is an estimator E_M can use at ``resolution``; else a
    ValueError naming what is expected."""
    if flow is None:
        raise ValueError(
            "AVLAE with motion_encoder=True needs a flow estimator: AVLAE(cfg, flow) "
            "(vidlib.method.build makes the one cfg.flow names)"
        )
    stride = getattr(flow, "stride", None)
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(
            f"the flow estimator needs an integer attribute stride >= 1 (see "
            f"vidlib.flow), got {stride!r}"
        )
    if resolution % stride:
        raise ValueError(
            f"resolution must be divisible by the flow estimator's stride {stride} "
            f"(E_M reads flow at 1/{stride} of the frames), got {resolution}"
        )
    return flow


class AVLAE(SamplesFromG):
    """The Method of the paper: Alg. 1's Steps I-III per iteration.

    ``nets``: ``"G"`` (:class:`Generator`: F_A, F_M, G), ``"E_A"``, ``"E_M"`` (E_M*,
    the trainable part of E_M; absent without the motion encoder), ``"D_I"``,
    ``"D_V"`` and, with an EMA, ``"G_ema"``. ``flow`` is the injected flow
    estimator (see :mod:`vidlib.flow`), frozen here; it may be None only when
    ``cfg.motion_encoder`` is False.
    """

    appearance_code = "z_A"
    motion_code = "z_M"
    needs = ("flow",)  # vidlib.method.build resolves cfg.flow

    def __init__(
        self,
        cfg: AVLAEConfig = AVLAEConfig(),  # noqa: B008
        flow: nn.Module | None = None,
    ) -> None:
        self.cfg = cfg
        self.config = {"model": "avlae", **asdict(cfg)}
        self.flow = None
        if cfg.motion_encoder:
            self.flow = freeze(check_flow(flow, cfg.resolution))
        self.nets: dict[str, nn.Module] = {
            "G": Generator(cfg),
            "E_A": AppearanceEncoder(cfg),
            "D_I": latent_discriminator(cfg.dim_w, cfg.dim_w),
            "D_V": VideoDiscriminator(cfg),
        }
        if self.flow is not None:
            self.nets["E_M"] = motion_encoder(cfg, self.flow.stride)
        if cfg.ema_decay > 0:
            self.nets["G_ema"] = copy.deepcopy(self.nets["G"]).requires_grad_(False)
        encoder_side = [
            p
            for name in ("E_A", "E_M", "D_I", "D_V")
            if name in self.nets
            for p in self.nets[name].parameters()
        ]
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {
            "G": torch.optim.Adam(self.nets["G"].parameters(), cfg.lr, betas),
            "E": torch.optim.Adam(encoder_side, cfg.lr, betas),
        }

    @property
    def networks(self) -> dict[str, nn.Module]:
        """The paper's trainable networks by name: F_A, F_M, G, E_A, E_M (E_M*, when
        there is one), D_I, D_V."""
        g = self.nets["G"]
        nets = {"F_A": g.F_A, "F_M": g.F_M, "G": g.G}
        names = ("E_A", "E_M", "D_I", "D_V")
        return nets | {name: self.nets[name] for name in names if name in self.nets}

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """z_A, z_M ``(n, dim_z)`` ~ N(0, I) on the Method's device."""
        d = self.cfg.dim_z
        z_A = torch.randn(n, d, generator=gen)
        z_M = torch.randn(n, d, generator=gen)
        return {"z_A": z_A.to(self.device), "z_M": z_M.to(self.device)}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(codes["z_A"].to(self.device), codes["z_M"].to(self.device))

    def check_clips(self, video: torch.Tensor) -> torch.Tensor:
        """``video`` if it is a batch of clips the encoders take, ``(B, C, T, H, W)``
        with the config's C, T, H, W; else a ValueError naming what is expected."""
        cfg = self.cfg
        if video.ndim == 5 and video.shape[2] < 2:
            raise ValueError(
                "E_M needs clips of at least 2 frames (it encodes the T − 1 flows "
                f"between consecutive frames), got T = {video.shape[2]}"
            )
        expected = (cfg.channels, cfg.frames, cfg.resolution, cfg.resolution)
        if video.ndim != 5 or tuple(video.shape[1:]) != expected:
            raise ValueError(
                f"expected clips (B, C, T, H, W) = (B, {', '.join(map(str, expected))})"
                f", got {tuple(video.shape)}"
            )
        return video

    def flows(self, video: torch.Tensor) -> torch.Tensor:
        """The frozen estimator's T − 1 flows of clips ``(B, C, T, H, W)``:
        ``(B, 2, T − 1, H/stride, W/stride)``, differentiable w.r.t. ``video``."""
        self.flow.to(video.device)  # not in nets, so fit does not move it
        return video_flow(self.flow, video)

    def encode_motion(self, video: torch.Tensor) -> torch.Tensor:
        """``w'_M = E_M(x) = E_M*(flow(x))``; gradients pass through the frozen
        estimator to ``video``."""
        return self.nets["E_M"](self.flows(video))

    def encode(
        self, video: torch.Tensor, gen: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(w'_A, w'_M)`` of clips ``(B, C, T, H, W)``: E_A of one random frame per
        clip (drawn with ``gen``) and E_M of the clip (None without E_M). Call it in
        :func:`vidlib.method.eval_mode` under ``torch.no_grad()`` for figures."""
        video = self.check_clips(video.to(self.device))
        w_A = self.nets["E_A"](sample_frames(video, 1, gen))
        w_M = self.encode_motion(video) if "E_M" in self.nets else None
        return w_A, w_M

    def reconstruct(
        self, video: torch.Tensor, gen: torch.Generator | None = None
    ) -> torch.Tensor:
        """``G(E_A(x_t), E_M(x))`` (Sec. 5.4, Fig. 5) with the sampling generator's
        G: clips ``(B, C, T, H, W)`` in [-1, 1]."""
        if "E_M" not in self.nets:
            raise ValueError("reconstruct needs E_M, so motion_encoder=True")
        w_A, w_M = self.encode(video, gen)
        return self.generator.G(w_A, w_M)

    def step_I(self, real: torch.Tensor, step: int = 1) -> dict[str, torch.Tensor]:
        """Alg. 1 Step I: ascend Eq. (8) in (E_M*, D_V) and Eq. (9) in (E_A, D_I)
        on real clips and G's clips from fresh codes; on the ``step``s a lazy R1 is
        due (``r1_gamma`` > 0, not in Alg. 1), add it for both discriminators."""
        cfg, nets = self.cfg, self.nets
        with torch.no_grad():
            fake = self._run(nets["G"], self.codes(real.shape[0]))
        r1_weight = lazy_r1_weight(cfg.r1_gamma, cfg.r1_every, step)
        if r1_weight:
            real = real.detach().requires_grad_(True)
        clips = (real, fake)
        codes = [None, None]
        if "E_M" in nets:
            # the clips are constants here (no path to G); R1 differentiates the
            # real clips' scores, through the estimator too
            with torch.set_grad_enabled(bool(r1_weight)):
                flow_real = self.flows(real)
            with torch.no_grad():
                flow_fake = self.flows(fake)
            codes = [nets["E_M"](f) for f in (flow_real, flow_fake)]
        real_v, fake_v = (nets["D_V"](v, w) for v, w in zip(clips, codes, strict=True))
        real_i, fake_i = (nets["D_I"](nets["E_A"](sample_frames(v))) for v in clips)
        losses = {
            "d_video": discriminator_loss(real_v, fake_v, cfg.loss),
            "d_image": discriminator_loss(real_i, fake_i, cfg.loss),
        }
        if r1_weight:
            r1 = r1_penalty(real_v, real) + r1_penalty(real_i, real)
            losses["d_r1"] = r1_weight * r1
        self.opts["E"].zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        self.opts["E"].step()
        return losses

    def step_II(self, n: int) -> dict[str, torch.Tensor]:
        """Alg. 1 Step II: descend the generator side of Eqs. (8)-(9) in F_A, F_M and
        G on ``n`` fresh codes."""
        cfg, nets = self.cfg, self.nets
        fake = self._run(nets["G"], self.codes(n))
        w_M = self.encode_motion(fake) if "E_M" in nets else None
        losses = {
            "g_video": generator_loss(nets["D_V"](fake, w_M), cfg.loss),
            "g_image": generator_loss(
                nets["D_I"](nets["E_A"](sample_frames(fake))), cfg.loss
            ),
        }
        self.opts["G"].zero_grad(set_to_none=True)
        sum(losses.values()).backward(inputs=list(nets["G"].parameters()))
        self.opts["G"].step()
        return losses

    def step_III(self, n: int) -> dict[str, torch.Tensor]:
        """Alg. 1 Step III: descend Eq. (10) in E_A, E_M* and G on ``n`` fresh codes;
        a term whose K is 0 is not computed, and with both 0 nothing is updated."""
        cfg, nets = self.cfg, self.nets
        if not (cfg.k1 or cfg.k2):
            return {}
        g = nets["G"]
        codes = self.codes(n)
        with torch.no_grad():  # line 28 updates no F: targets and G's input alike
            w_A, w_M = g.F_A(codes["z_A"]), g.F_M(codes["z_M"])
        fake = g.G(w_A, w_M)
        losses, trained = {}, [g.G]
        if cfg.k1:
            w_M_prime = self.encode_motion(fake)
            losses["rec_motion"] = latent_reconstruction_loss(w_M, w_M_prime, cfg.k1)
            trained.append(nets["E_M"])
        if cfg.k2:
            w_A_prime = nets["E_A"](sample_frames(fake))
            losses["rec_appearance"] = latent_reconstruction_loss(
                w_A, w_A_prime, cfg.k2
            )
            trained.append(nets["E_A"])
        for opt in self.opts.values():
            opt.zero_grad(set_to_none=True)
        params = [p for net in trained for p in net.parameters()]
        sum(losses.values()).backward(inputs=params)
        for opt in self.opts.values():
            opt.step()
        return losses

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One iteration of Alg. 1: Steps I, II, III, then the EMA of the generator
        side when enabled."""
        real = self.check_clips(batch["video"])
        n = real.shape[0]
        losses = self.step_I(real, step) | self.step_II(n) | self.step_III(n)
        if "G_ema" in self.nets:
            ema_update(self.nets["G_ema"], self.nets["G"], self.cfg.ema_decay)
        return {name: value.item() for name, value in losses.items()}
