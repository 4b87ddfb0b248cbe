"""Shared network blocks: factorised transposed spatio-temporal convolutions,
factorised spatio-temporal self-attention (F-SA), spectral norm, weight-init and EMA
helpers, MoCoGAN's image generator G_I, motion GRU R_M, patch discriminators D_I and
D_V and frame sampler S_1 (which G3AN, NAVS and the residual-vector models reuse),
the strided 3-D discriminator trunk of VGAN and TGAN, the (2+1)D encoder of
AVLAE's D_V and E_M*, and the blocks of the sequential VAEs (DSA and RJVAE, whose
architecture derives from DSA's): the frame encoder and decoder, the bi-LSTM
posterior of a per-video code, the LSTM Gaussian prior and the reparameterised
draw.

Video features are ``(B, C, T, H, W)``. A transposed convolution over time and space
is written with its temporal and spatial parts apart (kernel ``k_t``/``k_s``, stride
``s_t``/``s_s``, padding ``p_t``/``p_s``), so one description builds

* ``"3d"``   — one ConvTranspose3d with kernel ``(k_t, k_s, k_s)``;
* ``"1+2d"`` — the transposed (1+2)D convolution of Wang et al. (ImaGINator, WACV
  2020) that G3AN uses: a 1-D temporal ConvTranspose, BN, ReLU, then a 2-D spatial
  one;
* ``"2+1d"`` — the same two in the opposite order (spatial first).

Every convolution is followed by BatchNorm and ReLU, as in the G3 module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from vidlib.losses import GAN_LOSSES

CONV_TYPES: tuple[str, ...] = ("1+2d", "2+1d", "3d")


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """``module`` with spectral normalisation of its weight when ``enabled``."""
    return spectral_norm(module) if enabled else module


WEIGHT_INITS: tuple[str, ...] = ("official", "torch")


@torch.no_grad()
def normal_init(
    net: nn.Module,
    convs: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    std: float = 0.02,
    bn_std: float | None = None,
    zero_bias: bool = False,
) -> nn.Module:
    """The DCGAN-style init of official GAN code, in place; returns ``net``.

    The weight of every module of ``net`` that is an instance of one of ``convs``
    ~ N(0, ``std``) (transposed convs are not instances of ``nn.Conv*d`` and keep
    their init unless listed); their biases are set to 0 when ``zero_bias``, else
    keep PyTorch's init. Every BatchNorm has γ ~ N(1, ``bn_std``) (default ``std``),
    β = 0. A spectrally normalised conv gets the draw in its unnormalised weight,
    and its power iteration is rerun (15 steps, as at construction), so σ is
    estimated for the new weight.
    """
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.normal_(module.weight, 1.0, std if bn_std is None else bn_std)
            nn.init.zeros_(module.bias)
        if not isinstance(module, convs):
            continue
        if zero_bias and module.bias is not None:
            nn.init.zeros_(module.bias)
        if parametrize.is_parametrized(module, "weight"):
            weights = module.parametrizations.weight
            nn.init.normal_(weights.original, 0.0, std)
            for p in weights:
                if hasattr(p, "_power_method"):  # torch's spectral norm
                    p._power_method(p._reshape_weight_to_matrix(weights.original), 15)
        else:
            nn.init.normal_(module.weight, 0.0, std)
    return net


@dataclass(frozen=True)
class Transposed:
    """Kernel, stride and padding of a transposed conv over time (t) and space (s).

    Output length: ``(n - 1)·stride − 2·padding + kernel`` along each axis.
    """

    k_t: int
    k_s: int
    s_t: int = 1
    s_s: int = 1
    p_t: int = 0
    p_s: int = 0

    def out_t(self, t: int) -> int:
        return (t - 1) * self.s_t - 2 * self.p_t + self.k_t

    def out_s(self, s: int) -> int:
        return (s - 1) * self.s_s - 2 * self.p_s + self.k_s


def matched_width(c_in: int, c_out: int, geometry: Transposed, conv: str) -> int:
    """Intermediate width M giving a factorised conv the 3-D conv's parameter count.

    The rule of R(2+1)D (Tran et al. 2018):
    ``M·(c_in·a + c_out·b) ≈ c_in·c_out·k_t·k_s²``, with ``(a, b) = (k_t, k_s²)``
    for (1+2)D and ``(k_s², k_t)`` for (2+1)D.
    """
    k_t, k_s2 = geometry.k_t, geometry.k_s**2
    a, b = (k_t, k_s2) if conv == "1+2d" else (k_s2, k_t)
    return max(1, round(c_in * c_out * k_t * k_s2 / (c_in * a + c_out * b)))


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm3d(channels), nn.ReLU(True)]


def transposed_video_conv(
    c_in: int,
    c_out: int,
    geometry: Transposed,
    conv: str = "1+2d",
    mid: int | None = None,
    sn: bool = False,
) -> nn.Sequential:
    """A transposed spatio-temporal conv of type ``conv`` (see module docstring).

    ``(B, c_in, T, H, W)`` → ``(B, c_out, out_t(T), out_s(H), out_s(W))``; each conv
    is followed by BN and ReLU. ``mid`` is the width between the two factorised
    convs (default ``c_out``, as the official G3AN code does).
    """
    if conv not in CONV_TYPES:
        raise ValueError(f"conv must be one of {CONV_TYPES}, got {conv!r}")
    g = geometry
    if conv == "3d":
        layer = nn.ConvTranspose3d(
            c_in,
            c_out,
            (g.k_t, g.k_s, g.k_s),
            (g.s_t, g.s_s, g.s_s),
            (g.p_t, g.p_s, g.p_s),
        )
        return nn.Sequential(maybe_sn(layer, sn), *_bn_relu(c_out))
    mid = mid or c_out
    temporal = ((g.k_t, 1, 1), (g.s_t, 1, 1), (g.p_t, 0, 0))
    spatial = ((1, g.k_s, g.k_s), (1, g.s_s, g.s_s), (0, g.p_s, g.p_s))
    first, second = (temporal, spatial) if conv == "1+2d" else (spatial, temporal)
    return nn.Sequential(
        maybe_sn(nn.ConvTranspose3d(c_in, mid, *first), sn),
        *_bn_relu(mid),
        maybe_sn(nn.ConvTranspose3d(mid, c_out, *second), sn),
        *_bn_relu(c_out),
    )


def transposed_time_conv(
    c_in: int, c_out: int, geometry: Transposed, sn: bool = False
) -> nn.Sequential:
    """A temporal stream's level (G3AN's G_T): a transposed 1-D conv over time with
    ``geometry``'s temporal kernel, BatchNorm over batch and time, ReLU:
    ``(B, c_in, T)`` → ``(B, c_out, out_t(T))``."""
    g = geometry
    conv = nn.ConvTranspose1d(c_in, c_out, g.k_t, g.s_t, g.p_t)
    return nn.Sequential(maybe_sn(conv, sn), nn.BatchNorm1d(c_out), nn.ReLU(True))


class AxialSelfAttention(nn.Module):
    """SAGAN self-attention along one axis of a video feature map.

    ``axis="time"`` (T-SA): every spatial position ``(h, w)`` attends over the T time
    steps; ``axis="space"`` (S-SA): every frame ``t`` attends over its H·W positions.
    With ``q = W_q x``, ``k = W_k x`` (C → C/8) and ``v = W_v x`` (C → C), all 1×1×1:

        β = softmax_j(q_i · k_j),   o_i = Σ_j β_ij v_j,   y = γ·o + x,   γ₀ = 0.
    """

    def __init__(self, channels: int, axis: str, sn: bool = False) -> None:
        super().__init__()
        if axis not in ("time", "space"):
            raise ValueError(f"axis must be 'time' or 'space', got {axis!r}")
        self.axis = axis
        inner = max(channels // 8, 1)
        self.query = maybe_sn(nn.Conv3d(channels, inner, 1), sn)
        self.key = maybe_sn(nn.Conv3d(channels, inner, 1), sn)
        self.value = maybe_sn(nn.Conv3d(channels, channels, 1), sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W)`` → ``(batch of sequences, length, C)`` along the axis."""
        if self.axis == "time":
            return rearrange(x, "b c t h w -> (b h w) t c")
        return rearrange(x, "b c t h w -> (b t) (h w) c")

    def from_sequences(self, seq: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_sequences` for a feature map shaped like ``like``."""
        b, _, t, h, w = like.shape
        if self.axis == "time":
            return rearrange(seq, "(b h w) t c -> b c t h w", b=b, h=h, w=w)
        return rearrange(seq, "(b t) (h w) c -> b c t h w", b=b, t=t, h=h)

    def attention(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """β ``(N, L, L)`` from queries and keys ``(N, L, C/8)``: softmax over keys."""
        return torch.softmax(q @ k.transpose(1, 2), dim=-1)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention output o (before the residual), shaped like ``x``."""
        q, k, v = (self.to_sequences(f(x)) for f in (self.query, self.key, self.value))
        return self.from_sequences(self.attention(q, k) @ v, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y = γ·o + x`` for ``x`` of shape ``(B, C, T, H, W)``."""
        return self.gamma * self.attend(x) + x


class FactorisedSelfAttention(nn.Sequential):
    """F-SA of G3AN (Sec. 3.1, Fig. 4): T-SA followed by S-SA, ``(B, C, T, H, W)``."""

    def __init__(self, channels: int, sn: bool = False) -> None:
        super().__init__(
            AxialSelfAttention(channels, "time", sn),
            AxialSelfAttention(channels, "space", sn),
        )


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """Exponential moving average of parameters, ``θ_ema ← decay·θ_ema + (1−decay)·θ``.

    Buffers other than BatchNorm statistics (e.g. spectral-norm vectors) are copied.
    BatchNorm statistics are not: the live G's running statistics do not fit the
    averaged weights, so :func:`recalibrate_batchnorm` measures the EMA copy's own.
    """
    for p_ema, p in zip(ema.parameters(), live.parameters(), strict=True):
        p_ema.lerp_(p, 1 - decay)
    for (name, b_ema), b in zip(ema.named_buffers(), live.buffers(), strict=True):
        if name.rpartition(".")[2] not in BATCHNORM_BUFFERS:
            b_ema.copy_(b)


BATCHNORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@torch.no_grad()
def recalibrate_batchnorm(
    net: nn.Module, forward: Callable[[], Any], batches: int
) -> None:
    """Set every BatchNorm's running statistics of ``net`` to the exact average of
    the batch statistics of ``batches`` calls of ``forward()`` (which runs ``net``),
    as BN re-estimation does for averaged weights. ``net`` ends in eval mode."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calls
    net.train()
    try:
        for _ in range(batches):
            forward()
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        net.eval()


def check_gan_config(cfg: Any, positive: tuple[str, ...]) -> None:
    """Checks that the configs of the GANs with D_I and a DCGAN-style D_V (MoCoGAN,
    G3AN) share; raises ``ValueError`` naming the field. ``cfg.loss`` is one of
    ``GAN_LOSSES``, ``0 <= cfg.ema_decay < 1``, every field in ``positive`` is >= 1,
    S_1 can draw ``cfg.image_frames`` distinct frames of a clip, and D_V keeps a frame
    (:func:`video_discriminator_frames`)."""
    if cfg.loss not in GAN_LOSSES:
        raise ValueError(f"loss must be one of {GAN_LOSSES}, got {cfg.loss!r}")
    if not 0 <= cfg.ema_decay < 1:
        raise ValueError(f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not 1 <= cfg.image_frames <= cfg.frames:
        raise ValueError(
            f"image_frames must be in [1, frames={cfg.frames}], got {cfg.image_frames}"
        )
    video_discriminator_frames(cfg.frames, cfg.resolution, cfg.video_temporal_padding)


def video_discriminator_frames(
    frames: int, resolution: int, temporal_padding: int
) -> int:
    """Frames left before a DCGAN-style D_V's head: log2(resolution) − 2 layers with
    temporal kernel 4 and stride 1, each removing 3 − 2·``temporal_padding`` frames."""
    layers = int(math.log2(resolution)) - 2
    left = frames + layers * (2 * temporal_padding - 3)
    if left < 1:
        shortest = 1 - layers * (2 * temporal_padding - 3)
        raise ValueError(
            f"D_V needs frames >= {shortest} at resolution {resolution} with "
            f"video_temporal_padding={temporal_padding}; got frames={frames}. Raise "
            "video_temporal_padding (1 keeps 1 frame per layer)."
        )
    return left


def strided_video_trunk(
    channels: int, ndf: int, layers: int, bn_eps: float = 1e-5
) -> nn.Sequential:
    """The 3-D DCGAN discriminator trunk of VGAN and TGAN: ``layers`` Conv3d k4 s2 p1
    of widths ``ndf·2^i``, BatchNorm (``bn_eps``) from the second layer, LeakyReLU 0.2.

    ``(B, C, T, H, W)`` → ``(B, ndf·2^(layers−1), T/2^L, H/2^L, W/2^L)``, L = layers.
    """
    widths = [channels] + [ndf * 2**i for i in range(layers)]
    out: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False)):
        out.append(nn.Conv3d(c_in, c_out, 4, 2, 1))
        if i > 0:
            out.append(nn.BatchNorm3d(c_out, eps=bn_eps))
        out.append(nn.LeakyReLU(0.2, True))
    return nn.Sequential(*out)


def factorised_video_encoder(
    channels: int, widths: list[int], frames: int, size: int, out: int
) -> nn.Sequential:
    """A (2+1)D conv encoder of AVLAE (its D_V and E_M*) from a clip to one vector.

    One layer per entry of ``widths``: a spatial Conv3d k(1,4,4) s(1,2,2) p(0,1,1),
    LeakyReLU 0.2, a temporal Conv3d k(3,1,1) s(2,1,1) p(1,0,0), LeakyReLU 0.2, so
    each layer halves H and W and takes T to ⌈T/2⌉. A head with kernels as large as
    what is left, ``s = size / 2^layers`` and ``t``, then reads the whole clip: a
    spatial Conv3d k(1,s,s) (to the last width, or to ``out`` when there is no
    layer), LeakyReLU 0.2, a temporal Conv3d k(t,1,1) to ``out``. No normalisation.

    ``(B, channels, frames, size, size)`` → ``(B, out)``.
    """
    if size % 2 ** len(widths):
        raise ValueError(
            f"{len(widths)} stride-2 layers need a size divisible by "
            f"{2 ** len(widths)}, got {size}"
        )
    layers: list[nn.Module] = []
    c, t, s = channels, frames, size
    for width in widths:
        layers += [
            nn.Conv3d(c, width, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
            nn.LeakyReLU(0.2, True),
            nn.Conv3d(width, width, (3, 1, 1), (2, 1, 1), (1, 0, 0)),
            nn.LeakyReLU(0.2, True),
        ]
        c, t, s = width, (t + 1) // 2, s // 2
    hidden = widths[-1] if widths else out
    layers += [
        nn.Conv3d(c, hidden, (1, s, s)),
        nn.LeakyReLU(0.2, True),
        nn.Conv3d(hidden, out, (t, 1, 1)),
        nn.Flatten(),
    ]
    return nn.Sequential(*layers)


UPSAMPLES = ("transposed", "nearest")


def check_upsample(upsample: str, name: str = "image_upsample") -> None:
    """Raises ``ValueError`` naming ``name`` unless ``upsample`` is in ``UPSAMPLES``."""
    if upsample not in UPSAMPLES:
        raise ValueError(f"{name} must be one of {UPSAMPLES}, got {upsample!r}")


def nearest2(c_in: int, c_out: int, kernel: int, bias: bool = True) -> list[nn.Module]:
    """Nearest 2× doubling then a stride-1 ``kernel``×``kernel`` conv that keeps the
    size (Odena et al. 2016: resize-convolution, which removes a stride-2 ConvT's
    uneven kernel overlap)."""
    return [
        nn.Upsample(scale_factor=2.0, mode="nearest"),
        nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=bias),
    ]


def _upsample2(c_in: int, c_out: int, upsample: str, bias: bool) -> list[nn.Module]:
    """One 2× upsampling layer of G_I: a stride-2 ConvT k4 (DCGAN), or nearest
    doubling then a 3×3 conv (:func:`nearest2`)."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]
    return nearest2(c_in, c_out, 3, bias)


class ImageGenerator(nn.Module):
    """G_I: a DCGAN generator (ConvT k4, BN, ReLU; tanh output), bias-free unless
    ``bias`` (VGAN's Torch code keeps the default biases of every ConvT).
    ``upsample="nearest"`` replaces each stride-2 ConvT by nearest doubling and a
    3×3 conv (:func:`_upsample2`); the first 1×1 → 4×4 ConvT stays."""

    def __init__(
        self,
        dim_z: int,
        resolution: int,
        ngf: int,
        channels: int = 3,
        bias: bool = False,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        check_upsample(upsample, "upsample")
        ups = int(math.log2(resolution)) - 2  # 4×4 → resolution
        width = ngf * 2 ** (ups - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(dim_z, width, 4, 1, 0, bias=bias),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(ups - 1):
            layers += [
                *_upsample2(width, width // 2, upsample, bias),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [*_upsample2(width, channels, upsample, bias), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z ``(N, d)`` → images ``(N, C, H, W)`` in [-1, 1]."""
        return self.net(z[:, :, None, None])


def sample_frames(
    videos: torch.Tensor, k: int = 1, gen: torch.Generator | None = None
) -> torch.Tensor:
    """S_1 drawn ``k`` times per clip without replacement: ``(B·k, C, H, W)``.

    ``k = 1`` is the paper's S_1: one uniformly random frame of each clip.
    """
    b, _, t = videos.shape[:3]
    index = torch.rand(b, t, generator=gen).argsort(dim=1)[:, :k].to(videos.device)
    frames = videos[torch.arange(b, device=videos.device)[:, None], :, index]
    return rearrange(frames, "b k c h w -> (b k) c h w")


class MotionGRU(nn.Module):
    """MoCoGAN's R_M, a one-layer GRU over time: ``h^(t) = GRU([ε^(t), c], h^(t−1))``.

    ``c`` is an optional input repeated at every step (MoCoGAN's category z_A, RJGAN's
    summary vector μ); the outputs are the states ``h^(1..T)``.
    """

    def __init__(self, dim_eps: int, dim_hidden: int, dim_cond: int = 0) -> None:
        super().__init__()
        self.cell = nn.GRUCell(dim_eps + dim_cond, dim_hidden)

    def forward(
        self, eps: torch.Tensor, h0: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """eps ``(B, T, d_ε)``, h0 ``(B, d_h)``, cond ``(B, d_c)`` → ``(B, T, d_h)``."""
        h, steps = h0, []
        for t in range(eps.shape[1]):
            inputs = eps[:, t] if cond is None else torch.cat([eps[:, t], cond], dim=1)
            h = self.cell(inputs, h)
            steps.append(h)
        return torch.stack(steps, dim=1)


class PatchImageDiscriminator(nn.Module):
    """MoCoGAN's D_I: bias-free conv k4 s2 (ndf → 2·ndf → 4·ndf; BatchNorm from the
    second layer unless spectrally normalised; LReLU 0.2) → patch logits, ``logits``
    per patch (1 for D_I; a class count for the residual-vectors paper's frame
    classifier of D_I's architecture)."""

    def __init__(
        self, channels: int, ndf: int, sn: bool = False, logits: int = 1
    ) -> None:
        super().__init__()
        widths = [channels, ndf, ndf * 2, ndf * 4]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False)):
            layers.append(maybe_sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), sn))
            if i > 0 and not sn:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
        head = nn.Conv2d(widths[-1], logits, 4, 2, 1, bias=False)
        layers.append(maybe_sn(head, sn))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images ``(N, C, H, W)`` → logits ``(N, logits, H/16, W/16)``."""
        return self.net(images)


class PatchVideoDiscriminator(nn.Module):
    """MoCoGAN's D_V: bias-free Conv3d k4, stride (1, 2, 2), temporal padding
    ``temporal_padding`` (official: 0), widths ``ndf·2^i`` down to 4×4, BatchNorm from
    the second layer unless spectrally normalised, LReLU 0.2; then a head with
    ``1 + extra_logits`` logits (MoCoGAN's category head Q shares the trunk)."""

    def __init__(
        self,
        channels: int,
        ndf: int,
        resolution: int,
        frames: int,
        temporal_padding: int = 0,
        extra_logits: int = 0,
        sn: bool = False,
    ) -> None:
        super().__init__()
        layers_n = int(math.log2(resolution)) - 2  # resolution → 4×4
        widths = [channels] + [ndf * 2**i for i in range(layers_n)]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False)):
            conv = nn.Conv3d(
                c_in, c_out, 4, (1, 2, 2), (temporal_padding, 1, 1), bias=False
            )
            layers.append(maybe_sn(conv, sn))
            if i > 0 and not sn:
                layers.append(nn.BatchNorm3d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
        left = video_discriminator_frames(frames, resolution, temporal_padding)
        head = nn.Conv3d(widths[-1], 1 + extra_logits, (min(4, left), 4, 4), bias=False)
        layers.append(maybe_sn(head, sn))
        self.net = nn.Sequential(*layers)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` → ``(B, 1 + extra_logits)``: the GAN logit, then
        the extra ones; logits of the remaining time positions are averaged."""
        return self.net(videos).mean(dim=(2, 3, 4))


# --- the sequential VAEs' blocks (DSA and RJVAE, whose architecture derives from it)


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(VAE_LRELU_SLOPE, inplace=True)


#: slope of every LeakyReLU of the VAE blocks (the DSA re-implementations name none)
VAE_LRELU_SLOPE = 0.2
#: stride-2 layers of the VAE frame encoder and decoder: 64 → 8, as in DSA's Sprites
VAE_DOWNSAMPLINGS = 3


def check_vae_resolution(resolution: int) -> None:
    """The VAE frame encoder halves H three times and the decoder doubles it three
    times: ``resolution`` must be a positive multiple of 8 (ValueError otherwise)."""
    step = 2**VAE_DOWNSAMPLINGS
    if resolution < step or resolution % step:
        raise ValueError(
            f"resolution must be a positive multiple of {step} (the frame encoder "
            f"halves it {VAE_DOWNSAMPLINGS} times), got {resolution}"
        )


class FrameEncoder(nn.Sequential):
    """The per-frame conv encoder of DSA (Li & Mandt 2018) as re-implemented
    (reference: yatindandi's ``DisentangledVAE``): Conv k5 s1 p2 C → ``width``, then
    3× Conv k5 s2 p2 ``width`` → ``width``, each with BN2d and LeakyReLU; flatten
    (``width``·(H/8)²) → Linear ``hidden`` (BN1d, LeakyReLU) → Linear ``out`` (BN1d,
    LeakyReLU). Frames ``(N, C, H, W)`` → features ``(N, out)``."""

    def __init__(
        self, channels: int, resolution: int, width: int, hidden: int, out: int
    ) -> None:
        check_vae_resolution(resolution)
        layers: list[nn.Module] = []
        for i in range(1 + VAE_DOWNSAMPLINGS):
            c_in, stride = (channels, 1) if i == 0 else (width, 2)
            layers += [nn.Conv2d(c_in, width, 5, stride, 2), nn.BatchNorm2d(width)]
            layers.append(_lrelu())
        side = resolution // 2**VAE_DOWNSAMPLINGS
        layers.append(nn.Flatten())
        for c_in, c_out in ((width * side * side, hidden), (hidden, out)):
            layers += [nn.Linear(c_in, c_out), nn.BatchNorm1d(c_out), _lrelu()]
        super().__init__(*layers)


class FrameDecoder(nn.Module):
    """The conv decoder of DSA as re-implemented: a latent ``(N, dim_in)`` → Linear
    ``hidden`` → Linear ``width``·(H/8)² (LeakyReLU after both, no BN) → reshape to
    ``(width, H/8, W/8)`` → 3× ConvT k5 s2 p2 op1 (BN2d, LeakyReLU) → ConvT k5 s1 p2
    to C → tanh: frames ``(N, C, H, W)`` in [-1, 1], the mean of p(x | latent).
    ``upsample="nearest"`` replaces each stride-2 ConvT k5 by nearest doubling and a
    5×5 conv (:func:`nearest2`; the same parameters)."""

    def __init__(
        self,
        dim_in: int,
        channels: int,
        resolution: int,
        width: int,
        hidden: int,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        check_vae_resolution(resolution)
        check_upsample(upsample, "upsample")
        self.side = resolution // 2**VAE_DOWNSAMPLINGS
        self.fc = nn.Sequential(
            nn.Linear(dim_in, hidden),
            _lrelu(),
            nn.Linear(hidden, width * self.side**2),
            _lrelu(),
        )
        layers: list[nn.Module] = []
        for _ in range(VAE_DOWNSAMPLINGS):
            if upsample == "transposed":
                layers += [nn.ConvTranspose2d(width, width, 5, 2, 2, output_padding=1)]
            else:
                layers += nearest2(width, width, 5)
            layers += [nn.BatchNorm2d(width), _lrelu()]
        layers += [nn.ConvTranspose2d(width, channels, 5, 1, 2), nn.Tanh()]
        self.convs = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``(N, dim_in)`` → ``(N, C, H, W)`` in [-1, 1]."""
        h = rearrange(self.fc(latent), "n (c h w) -> n c h w", h=self.side, w=self.side)
        return self.convs(h)


class GaussianHead(nn.Module):
    """Two Linear layers from a hidden state: the mean and the log-variance of a
    diagonal Gaussian, ``(..., dim_in)`` → ``((..., dim), (..., dim))``."""

    def __init__(self, dim_in: int, dim: int) -> None:
        super().__init__()
        self.mean = nn.Linear(dim_in, dim)
        self.logvar = nn.Linear(dim_in, dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean(h), self.logvar(h)


class SequencePosterior(nn.Module):
    """q(c | x(1:T)) of a code drawn once per video (DSA's f, RJVAE's μ): a bi-LSTM
    over per-frame features, the forward state at the last step ‖ the backward state
    at the first, then :class:`GaussianHead`. ``(B, T, dim_in)`` → mean, logvar
    ``(B, dim)``."""

    def __init__(self, dim_in: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim_in, hidden, batch_first=True, bidirectional=True)
        self.head = GaussianHead(2 * hidden, dim)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(features)  # (B, T, 2·hidden): forward ‖ backward
        k = self.lstm.hidden_size
        forward_last, backward_first = out[:, -1, :k], out[:, 0, k:]
        return self.head(torch.cat([forward_last, backward_first], dim=-1))


LSTMState = tuple[torch.Tensor, torch.Tensor]


class LSTMGaussianPrior(nn.Module):
    """An autoregressive diagonal-Gaussian prior: an LSTMCell fed ``dim_in`` values
    per step, whose state h(t) gives the mean and log-variance of step t through a
    :class:`GaussianHead` (DSA's p(z(t) | z(<t)), RJVAE's p(δ(t) | δ(<t), μ); each
    model says what it feeds in). The state starts at zeros."""

    def __init__(self, dim_in: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(dim_in, hidden)
        self.head = GaussianHead(hidden, dim)

    def step(
        self, inputs: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """One step: inputs ``(B, dim_in)`` → mean, logvar ``(B, dim)`` and the new
        state (None: zeros)."""
        h, c = self.cell(inputs, state)
        mean, logvar = self.head(h)
        return mean, logvar, (h, c)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every step of a known input sequence ``(B, T, dim_in)`` (teacher forcing:
        the conditionals the ELBO scores posterior samples with) → mean, logvar
        ``(B, T, dim)``."""
        state, means, logvars = None, [], []
        for t in range(inputs.shape[1]):
            mean, logvar, state = self.step(inputs[:, t], state)
            means.append(mean)
            logvars.append(logvar)
        return torch.stack(means, 1), torch.stack(logvars, 1)


def reparameterise(
    mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """A draw of N(mean, diag e^logvar) as mean + e^{logvar/2}·ε (Kingma & Welling
    2014), ε ~ N(0, I) from the global RNG unless given (same shape as ``mean``)."""
    if eps is None:
        eps = torch.randn_like(mean)
    return mean + (0.5 * logvar).exp() * eps


@torch.no_grad()
def vae_init(net: nn.Module) -> nn.Module:
    """The init of the DSA re-implementation, in place; returns ``net``: every
    Conv2d, ConvTranspose2d and Linear weight Kaiming-normal (PyTorch's defaults:
    fan-in, gain √2), biases kept; every BatchNorm γ = 1 **and β = 1**, as there.
    LSTMs keep PyTorch's init."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.ones_(module.bias)
    return net


def check_vae_config(cfg: Any, positive: tuple[str, ...]) -> None:
    """Checks the configs of the sequential VAEs share; raises ``ValueError`` naming
    the field: ``frames`` >= 2 (the bi-LSTM of q(· | x(1:T)) needs a sequence), a
    ``resolution`` the frame encoder takes (:func:`check_vae_resolution`), ``init``
    one of :data:`WEIGHT_INITS`, every
    field in ``positive`` >= 1, ``obs_var`` and ``lr`` > 0, betas in [0, 1)."""
    if cfg.frames < 2:
        raise ValueError(
            f"frames must be >= 2: the bi-LSTM of the posterior over the whole video "
            f"needs a sequence, got frames={cfg.frames}"
        )
    if cfg.init not in WEIGHT_INITS:
        raise ValueError(f"init must be one of {WEIGHT_INITS}, got {cfg.init!r}")
    check_vae_resolution(cfg.resolution)
    for name in positive:
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("obs_var", "lr"):
        if not getattr(cfg, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(cfg, name)}")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be in [0, 1), got {getattr(cfg, name)}")


def check_vae_clips(video: torch.Tensor, cfg: Any) -> torch.Tensor:
    """``video`` if it is a batch of clips ``(B, C, T, H, W)`` with the config's C, H
    and W and T >= 2 (any length: the posteriors run over whatever T is given);
    else a ValueError naming what is expected."""
    res = cfg.resolution
    expected = (cfg.channels, res, res)
    if video.ndim != 5 or (video.shape[1], *video.shape[3:]) != expected:
        raise ValueError(
            f"expected clips (B, C, T, H, W) = (B, {cfg.channels}, T, {res}, {res}), "
            f"got {tuple(video.shape)}"
        )
    if video.shape[2] < 2:
        raise ValueError(
            f"the posterior's bi-LSTM needs clips of >= 2 frames, got T = "
            f"{video.shape[2]}"
        )
    return video


def encode_frames(encoder: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """A per-frame encoder over clips: ``(B, C, T, H, W)`` → ``(B, T, F)``."""
    frames = rearrange(video, "b c t h w -> (b t) c h w")
    return rearrange(encoder(frames), "(b t) f -> b t f", t=video.shape[2])


def decode_frames(decoder: nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """A per-frame decoder over latent sequences: ``(B, T, D)`` →
    ``(B, C, T, H, W)``."""
    frames = decoder(rearrange(latents, "b t d -> (b t) d"))
    return rearrange(frames, "(b t) c h w -> b c t h w", t=latents.shape[1])
