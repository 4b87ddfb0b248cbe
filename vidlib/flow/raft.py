"""RAFT: Recurrent All-Pairs Field Transforms for Optical Flow (Teed & Deng, ECCV 2020).

AVLAE's motion encoder (Sec. 4.2) reads RAFT's flow at 1/8 of the input resolution,
pretrained on Sintel, frozen but differentiable. This is RAFT written for vidlib; its
``state_dict`` has the keys and shapes of torchvision's ``raft_small()`` /
``raft_large()`` (``tests/fixtures/raft_*_keys.json``, dumped from torchvision 0.29.1),
so torchvision's ``.pth`` files load with :func:`load_raft`.

The network (paper Sec. 3; sizes of the official code, which torchvision ports):

* Feature encoder ``g_θ`` and context encoder ``h_θ``: a 7×7 stride-2 stem and three
  stages of two residual (large) or bottleneck (small) blocks, strides 1, 2, 2, so
  both map ``(3, H, W)`` to ``(D, H/8, W/8)``. ``g_θ`` (instance norm) sees both
  frames, ``h_θ`` (batch norm for large, none for small) only frame 1; ``h_θ``'s
  output splits into the GRU's initial state ``tanh(·)`` and the context ``relu(·)``.
* Correlation volume ``C_ijkl = Σ_h g_θ(I_1)_ijh · g_θ(I_2)_klh / √D`` (the 1/√D is
  the official code's and torchvision's; the paper's Eq. 1 is the plain sum) and its
  pyramid ``{C^1, …, C^L}``, ``L = 4``, by 2×2 average pooling of the last two axes.
* Lookup ``L_C``: around ``x' = x + f(x)``, level ``k`` is sampled bilinearly at
  ``x'/2^k + d`` for ``d`` in a square window ``‖d‖_∞ ≤ r`` (the paper writes the
  1-norm; the code and torchvision use the square, RAFT issue 122), ``r = 4`` large,
  3 small.
* Updates ``f_{k+1} = f_k + Δf`` from ``f_0 = 0`` by a ConvGRU (two separable 1×5 /
  5×1 GRUs for large, one 3×3 for small) fed with the context and the encoded
  ``(correlation, flow)``; a flow head reads ``Δf`` off the hidden state.
* Convex upsampling (large): each full-resolution pixel is a softmax-weighted
  combination of its 3×3 coarse neighbours, weights from a mask head (×0.25, as the
  code); small upsamples bilinearly.

Where this module differs from torchvision / the official code, and why:

* The flow RAFT iterates is in 1/8-grid cells; :meth:`RAFT.forward` returns it ×8, in
  input pixels, as the :mod:`vidlib.flow` contract asks (:meth:`RAFT.refine` keeps the
  grid flow). :meth:`RAFT.upsampled` is torchvision's last prediction.
* Inputs of 64 to 120 pixels a side work here. The lookup samples bilinearly at absolute
  pixel coordinates with zeros outside; the official code normalises them by
  ``size − 1`` for ``grid_sample(align_corners=True)``, which divides by zero on a
  level one cell wide, i.e. whenever the 1/8 map has a side under 16 (input under 128):
  the flow is NaN on this torch (RAFT issue 75 reports NaN at 64×64, though the
  author did not get it on his setup), and torchvision refuses such inputs
  (vision#7338, #7339). Here the normalisation is ``align_corners=False``'s,
  ``(2x + 1) / size − 1``: the same sample on levels of 2 cells or more (equal to
  float rounding; ``tests/test_raft.py`` checks it against torchvision's code) and
  the zero-padded one on a 1-cell level, so AVLAE's 64×64 clips get finite flow. The
  smallest input is then the pyramid's own limit, 8 · 2^(L−1) = 64 pixels a side.
  The trained weights never saw a 1-cell level; what AVLAE's RAFT did there is not
  known.
* As in the official code the lookup coordinates are detached at every update (no
  gradient through the sampling positions); gradients reach both frames through the
  features, the correlation values and the context, which is what "frozen but
  differentiable" gives AVLAE.
* The mask head runs once, after the last update, not at every update (torchvision
  upsamples every prediction for its sequence loss; the values are the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import nn

from vidlib.checkpoint import load_weights

#: RAFT's encoders downsample by 8 (stem and two stages of stride 2)
STRIDE = 8

NORMS: tuple[str | None, ...] = ("instance", "batch", None)
BLOCKS: tuple[str, ...] = ("residual", "bottleneck")

#: torchvision's weight files (``Raft_*_Weights`` in torchvision 0.29.1), by size:
#: enum member -> file name under https://download.pytorch.org/models/
WEIGHT_FILES: dict[str, dict[str, str]] = {
    "large": {
        "C_T_V1": "raft_large_C_T_V1-22a6c225.pth",
        "C_T_V2": "raft_large_C_T_V2-1bb1363a.pth",
        "C_T_SKHT_V1": "raft_large_C_T_SKHT_V1-0b8c9e55.pth",
        "C_T_SKHT_V2": "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        "C_T_SKHT_K_V1": "raft_large_C_T_SKHT_K_V1-4a6a5039.pth",
        "C_T_SKHT_K_V2": "raft_large_C_T_SKHT_K_V2-b5c70766.pth",
    },
    "small": {
        "C_T_V1": "raft_small_C_T_V1-ad48884c.pth",
        "C_T_V2": "raft_small_C_T_V2-01064c6d.pth",
    },
}

#: the file AVLAE's "RAFT pretrained on Sintel" is: the official raft-sintel.pth as
#: torchvision ported it (C_T_SKHT_V1: FlyingChairs + Things, then the Sintel mix).
#: torchvision has no Sintel-finetuned small RAFT; small is trained on C + T only.
SINTEL_FILE = WEIGHT_FILES["large"]["C_T_SKHT_V1"]


@dataclass(frozen=True)
class RAFTConfig:
    """One RAFT's sizes; the defaults are RAFT (large) of the paper and official code.

    ``feature_widths`` / ``context_widths`` are the encoder's stem, its three stages
    and its output ``D``; the context output is ``hidden + context`` channels.
    """

    feature_widths: tuple[int, ...] = (64, 64, 96, 128, 256)
    context_widths: tuple[int, ...] = (64, 64, 96, 128, 256)
    block: str = "residual"  # "residual" (large) or "bottleneck" (small)
    feature_norm: str | None = "instance"
    context_norm: str | None = "batch"
    levels: int = 4  # L, pyramid levels
    radius: int = 4  # r, lookup window half-side
    corr_widths: tuple[int, ...] = (256, 192)  # motion encoder, correlation branch
    flow_widths: tuple[int, ...] = (128, 64)  # motion encoder, flow branch
    motion_width: int = 128  # motion features, the flow's 2 channels included
    hidden: int = 128  # ConvGRU state
    gru_kernels: tuple[tuple[int, int], ...] = ((1, 5), (5, 1))
    head_width: int = 256  # flow head
    convex_upsampling: bool = True  # mask head (large) or bilinear (small)
    num_flow_updates: int = 12

    def __post_init__(self) -> None:
        for name in ("feature_widths", "context_widths"):
            if len(getattr(self, name)) != 5:
                raise ValueError(
                    f"{name} must hold 5 widths (stem, 3 stages, output), "
                    f"got {getattr(self, name)}"
                )
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {self.block!r}")
        for name in ("feature_norm", "context_norm"):
            if getattr(self, name) not in NORMS:
                raise ValueError(
                    f"{name} must be one of {NORMS}, got {getattr(self, name)!r}"
                )
        if len(self.corr_widths) not in (1, 2) or len(self.flow_widths) != 2:
            raise ValueError(
                "corr_widths must hold 1 or 2 widths and flow_widths 2, got "
                f"{self.corr_widths} and {self.flow_widths}"
            )
        if len(self.gru_kernels) not in (1, 2):
            raise ValueError(
                f"gru_kernels must hold 1 or 2 kernels, got {self.gru_kernels}"
            )
        if self.context_widths[-1] <= self.hidden:
            raise ValueError(
                f"context_widths[-1] must exceed hidden = {self.hidden} (the rest is "
                f"the context), got {self.context_widths[-1]}"
            )
        for name in ("levels", "num_flow_updates", "motion_width", "head_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.radius < 0:
            raise ValueError(f"radius must be >= 0, got {self.radius}")

    @property
    def min_side(self) -> int:
        """The smallest H or W: the 1/8 map must pool ``levels − 1`` times by 2."""
        return STRIDE * 2 ** (self.levels - 1)


#: torchvision's ``raft_large`` / ``raft_small`` arguments (the official code's sizes)
SIZES: dict[str, RAFTConfig] = {
    "large": RAFTConfig(),
    "small": RAFTConfig(
        feature_widths=(32, 32, 64, 96, 128),
        context_widths=(32, 32, 64, 96, 160),
        block="bottleneck",
        feature_norm="instance",
        context_norm=None,
        radius=3,
        corr_widths=(96,),
        flow_widths=(64, 32),
        motion_width=82,
        hidden=96,
        gru_kernels=((3, 3),),
        head_width=128,
        convex_upsampling=False,
    ),
}


def conv_norm_relu(
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int = 1,
    norm: str | None = None,
    relu: bool = True,
) -> nn.Sequential:
    """Conv (same padding, with bias), optional norm, optional ReLU; the conv is
    always item 0 and the norm item 1, the layout of the weight files' keys."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2)]
    if norm == "instance":
        layers.append(nn.InstanceNorm2d(c_out))  # affine-free: no weights
    elif norm == "batch":
        layers.append(nn.BatchNorm2d(c_out))
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _skip(c_in: int, c_out: int, norm: str | None, stride: int) -> nn.Module:
    """The blocks' shortcut: identity, or a 1×1 conv + norm where the shape changes."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return conv_norm_relu(c_in, c_out, 1, stride, norm, relu=False)


class ResidualBlock(nn.Module):
    """Two 3×3 conv-norm-ReLUs plus a (projected when the shape changes) skip, then
    ReLU: the large encoders' block (official ``ResidualBlock``)."""

    def __init__(self, c_in: int, c_out: int, norm: str | None, stride: int) -> None:
        super().__init__()
        self.convnormrelu1 = conv_norm_relu(c_in, c_out, 3, stride, norm)
        self.convnormrelu2 = conv_norm_relu(c_out, c_out, 3, 1, norm)
        self.downsample = _skip(c_in, c_out, norm, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convnormrelu2(self.convnormrelu1(x))
        return F.relu(self.downsample(x) + y)


class BottleneckBlock(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 at a quarter of the width, plus the skip, then ReLU:
    the small encoders' block (official ``BottleneckBlock``)."""

    def __init__(self, c_in: int, c_out: int, norm: str | None, stride: int) -> None:
        super().__init__()
        mid = c_out // 4
        self.convnormrelu1 = conv_norm_relu(c_in, mid, 1, 1, norm)
        self.convnormrelu2 = conv_norm_relu(mid, mid, 3, stride, norm)
        self.convnormrelu3 = conv_norm_relu(mid, c_out, 1, 1, norm)
        self.downsample = _skip(c_in, c_out, norm, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convnormrelu3(self.convnormrelu2(self.convnormrelu1(x)))
        return F.relu(self.downsample(x) + y)


class FeatureEncoder(nn.Module):
    """``g_θ`` / ``h_θ`` (Sec. 3.1): ``(N, 3, H, W)`` → ``(N, D, H/8, W/8)``."""

    def __init__(self, widths: tuple[int, ...], block: str, norm: str | None) -> None:
        super().__init__()
        Block = ResidualBlock if block == "residual" else BottleneckBlock

        def stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                Block(c_in, c_out, norm, stride), Block(c_out, c_out, norm, 1)
            )

        stem, s1, s2, s3, out = widths
        self.convnormrelu = conv_norm_relu(3, stem, 7, 2, norm)
        self.layer1 = stage(stem, s1, 1)
        self.layer2 = stage(s1, s2, 2)
        self.layer3 = stage(s2, s3, 2)
        self.conv = nn.Conv2d(s3, out, 1)
        for module in self.modules():  # the official init (fan-out Kaiming, γ=1, β=0)
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu"
                )
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.convnormrelu(images)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.conv(x)


class MotionEncoder(nn.Module):
    """Encodes the looked-up correlation and the current flow ``f_k`` (App. A); the
    flow itself is appended to the output (``motion_width`` channels in all)."""

    def __init__(self, cfg: RAFTConfig) -> None:
        super().__init__()
        corr_in = cfg.levels * (2 * cfg.radius + 1) ** 2
        c1, *c2 = cfg.corr_widths
        f1, f2 = cfg.flow_widths
        self.convcorr1 = conv_norm_relu(corr_in, c1, 1)
        self.convcorr2 = conv_norm_relu(c1, c2[0], 3) if c2 else nn.Identity()
        self.convflow1 = conv_norm_relu(2, f1, 7)
        self.convflow2 = conv_norm_relu(f1, f2, 3)
        self.conv = conv_norm_relu(cfg.corr_widths[-1] + f2, cfg.motion_width - 2, 3)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        corr_features = self.convcorr2(self.convcorr1(corr))
        flow_features = self.convflow2(self.convflow1(flow))
        motion = self.conv(torch.cat([corr_features, flow_features], dim=1))
        return torch.cat([motion, flow], dim=1)


class ConvGRU(nn.Module):
    """One convolutional GRU (Sec. 3.3):

    z = σ(Conv([h, x], W_z)),  r = σ(Conv([h, x], W_r)),
    h̃ = tanh(Conv([r ⊙ h, x], W_h)),  h ← (1 − z) ⊙ h + z ⊙ h̃.
    """

    def __init__(self, hidden: int, inputs: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2)
        c_in = hidden + inputs
        self.convz = nn.Conv2d(c_in, hidden, kernel, padding=padding)
        self.convr = nn.Conv2d(c_in, hidden, kernel, padding=padding)
        self.convq = nn.Conv2d(c_in, hidden, kernel, padding=padding)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        h_tilde = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * h_tilde


class RecurrentBlock(nn.Module):
    """The update operator's GRU: one 3×3 (small) or a 1×5 then a 5×1 (large, the
    paper's separable ConvGRU)."""

    def __init__(self, cfg: RAFTConfig) -> None:
        super().__init__()
        inputs = cfg.motion_width + cfg.context_widths[-1] - cfg.hidden
        for i, kernel in enumerate(cfg.gru_kernels, 1):
            self.add_module(f"convgru{i}", ConvGRU(cfg.hidden, inputs, kernel))

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for gru in self.children():  # convgru1, then convgru2 when there is one
            h = gru(h, x)
        return h


class FlowHead(nn.Module):
    """``Δf`` (in grid cells) from the hidden state: conv 3×3, ReLU, conv 3×3 → 2."""

    def __init__(self, hidden: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(hidden, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(h)))


class UpdateBlock(nn.Module):
    """The update operator (Sec. 3.3): ``h, Δf = U(h, context, L_C(x'), f)``."""

    def __init__(self, cfg: RAFTConfig) -> None:
        super().__init__()
        self.motion_encoder = MotionEncoder(cfg)
        self.recurrent_block = RecurrentBlock(cfg)
        self.flow_head = FlowHead(cfg.hidden, cfg.head_width)

    def forward(
        self,
        h: torch.Tensor,
        context: torch.Tensor,
        corr: torch.Tensor,
        flow: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([context, self.motion_encoder(flow, corr)], dim=1)
        h = self.recurrent_block(h, x)
        return h, self.flow_head(h)


class MaskPredictor(nn.Module):
    """The upsampling mask (Sec. 3.3, App. B): ``8·8·9`` logits per coarse cell, scaled
    by 0.25 (the official code's, to damp this branch's gradients in training)."""

    scale = 0.25

    def __init__(self, hidden: int, width: int = 256) -> None:
        super().__init__()
        self.convrelu = conv_norm_relu(hidden, width, 3)
        self.conv = nn.Conv2d(width, STRIDE * STRIDE * 9, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.scale * self.conv(self.convrelu(h))


def correlation_pyramid(
    g1: torch.Tensor, g2: torch.Tensor, levels: int
) -> list[torch.Tensor]:
    """``C^1 … C^L`` (Sec. 3.2): the all-pairs volume of features ``(B, D, h, w)``,
    for each frame-1 cell one map over frame 2, ``(B·h·w, 1, h/2^k, w/2^k)``."""
    b, d, h, w = g1.shape
    corr = einsum(g1, g2, "b d i j, b d k l -> b i j k l") / math.sqrt(d)
    pyramid = [rearrange(corr, "b i j k l -> (b i j) 1 k l")]
    for _ in range(levels - 1):
        pyramid.append(F.avg_pool2d(pyramid[-1], 2, stride=2))
    return pyramid


def sample(image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` ``(N, C, h, w)`` at absolute pixel coordinates
    ``points`` ``(N, i, j, 2)`` (x, y), zero outside: ``(N, C, i, j)``."""
    h, w = image.shape[-2:]
    size = points.new_tensor([w, h])
    # align_corners=False maps (2p + 1) / size − 1 back to pixel p for any size,
    # a 1-pixel level included (the (size − 1) form would divide by zero there)
    grid = (2 * points + 1) / size - 1
    return F.grid_sample(image, grid, mode="bilinear", align_corners=False)


def lookup(
    pyramid: list[torch.Tensor], coords: torch.Tensor, radius: int
) -> torch.Tensor:
    """``L_C`` (Sec. 3.2): each level sampled on a ``(2r+1)²`` window around
    ``x'/2^k``, for ``x'`` = ``coords`` ``(B, 2, h, w)`` in grid cells (x, y).

    Returns ``(B, L·(2r+1)², h, w)``; channel ``k·(2r+1)² + i·(2r+1) + j`` is level
    ``k`` at offset ``(dx, dy) = (i − r, j − r)``: the window's first axis runs over x
    (the official code's order, which the trained weights expect).
    """
    b, _, h, w = coords.shape
    offsets = torch.arange(
        -radius, radius + 1, dtype=coords.dtype, device=coords.device
    )
    window = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)
    centres = rearrange(coords, "b xy h w -> (b h w) 1 1 xy")
    levels = [
        rearrange(
            sample(corr, centres / 2**k + window),
            "(b h w) 1 i j -> b (i j) h w",
            b=b,
            h=h,
        )
        for k, corr in enumerate(pyramid)
    ]
    return torch.cat(levels, dim=1)


def grid_coords(b: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """``x`` of every cell of an ``h × w`` grid, ``(B, 2, h, w)``, channels (x, y)."""
    y, x = torch.meshgrid(
        torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )
    return torch.stack([x, y]).float().expand(b, 2, h, w)


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Full-resolution flow in pixels (Sec. 3.3): each of the 8×8 pixels of a cell is
    a softmax(mask)-weighted mean of ``8·flow`` over the cell's 3×3 neighbourhood."""
    b, _, h, w = flow.shape
    weights = rearrange(mask, "b (n a c) h w -> b 1 n a c h w", n=9, a=STRIDE)
    weights = weights.softmax(dim=2)
    neighbours = F.unfold(STRIDE * flow, kernel_size=3, padding=1)
    neighbours = rearrange(neighbours, "b (xy n) (h w) -> b xy n 1 1 h w", n=9, h=h)
    fine = (weights * neighbours).sum(dim=2)
    return rearrange(fine, "b xy a c h w -> b xy (h a) (w c)")


class RAFT(nn.Module):
    """RAFT with torchvision's module names (so its weight files load), following the
    :mod:`vidlib.flow` contract: ``forward(image1, image2)`` is the flow after
    ``num_flow_updates`` refinements at 1/8 resolution in input pixels."""

    stride = STRIDE

    def __init__(self, cfg: RAFTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or RAFTConfig()
        self.num_flow_updates = cfg.num_flow_updates
        self.feature_encoder = FeatureEncoder(
            cfg.feature_widths, cfg.block, cfg.feature_norm
        )
        self.context_encoder = FeatureEncoder(
            cfg.context_widths, cfg.block, cfg.context_norm
        )
        self.update_block = UpdateBlock(cfg)
        self.mask_predictor = (
            MaskPredictor(cfg.hidden) if cfg.convex_upsampling else None
        )

    def check_images(self, image1: torch.Tensor, image2: torch.Tensor) -> None:
        """Refuses frames RAFT cannot take, naming the rule."""
        if image1.shape != image2.shape:
            raise ValueError(
                "RAFT needs two batches of the same shape, got "
                f"{tuple(image1.shape)} and {tuple(image2.shape)}"
            )
        if image1.dim() != 4 or image1.shape[1] != 3:
            raise ValueError(
                f"RAFT takes frames (B, 3, H, W), got {tuple(image1.shape)}"
            )
        h, w = image1.shape[-2:]
        if h % STRIDE or w % STRIDE:
            raise ValueError(
                f"RAFT needs H and W divisible by {STRIDE} (its encoders downsample "
                f"by {STRIDE}), got {h}x{w}"
            )
        side = self.cfg.min_side
        if h < side or w < side:
            raise ValueError(
                f"RAFT needs H and W >= {side}: its correlation pyramid pools the "
                f"1/{STRIDE} map {self.cfg.levels - 1} times by 2, so each side of "
                f"that map must be >= {side // STRIDE}; got {h}x{w}"
            )

    def refine(
        self,
        image1: torch.Tensor,
        image2: torch.Tensor,
        num_flow_updates: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The iterations of Sec. 3.3 on frames ``(B, 3, H, W)`` in [-1, 1].

        Returns ``f`` ``(B, 2, H/8, W/8)`` in 1/8-grid cells (RAFT's own unit) and the
        GRU's last hidden state (which the mask head reads).
        """
        self.check_images(image1, image2)
        n = self.num_flow_updates if num_flow_updates is None else num_flow_updates
        g1, g2 = self.feature_encoder(torch.cat([image1, image2])).chunk(2)
        pyramid = correlation_pyramid(g1, g2, self.cfg.levels)
        h, context = self.context_encoder(image1).split(
            [self.cfg.hidden, self.cfg.context_widths[-1] - self.cfg.hidden], dim=1
        )
        h, context = torch.tanh(h), F.relu(context)
        b, _, h8, w8 = g1.shape
        coords0 = grid_coords(b, h8, w8, device=g1.device)
        coords1 = coords0
        for _ in range(n):
            coords1 = coords1.detach()  # no gradient through the lookup positions
            corr = lookup(pyramid, coords1, self.cfg.radius)
            h, delta = self.update_block(h, context, corr, coords1 - coords0)
            coords1 = coords1 + delta
        return coords1 - coords0, h

    def forward(
        self,
        image1: torch.Tensor,
        image2: torch.Tensor,
        num_flow_updates: int | None = None,
    ) -> torch.Tensor:
        """Flow from ``image1`` to ``image2`` ``(B, 2, H/8, W/8)``, (dx, dy) in input
        pixels: the grid flow of :meth:`refine` times the stride 8."""
        return STRIDE * self.refine(image1, image2, num_flow_updates)[0]

    def upsampled(
        self,
        image1: torch.Tensor,
        image2: torch.Tensor,
        num_flow_updates: int | None = None,
    ) -> torch.Tensor:
        """Full-resolution flow ``(B, 2, H, W)`` in pixels, torchvision's last
        prediction: convex upsampling (large) or bilinear ×8 (small)."""
        flow, h = self.refine(image1, image2, num_flow_updates)
        if self.mask_predictor is None:
            size = (STRIDE * flow.shape[2], STRIDE * flow.shape[3])
            return STRIDE * F.interpolate(
                flow, size=size, mode="bilinear", align_corners=True
            )
        return convex_upsample(flow, self.mask_predictor(h))


def raft(size: str = "large", num_flow_updates: int = 12) -> RAFT:
    """A randomly initialised RAFT ``"small"`` or ``"large"`` (torchvision's sizes)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {tuple(SIZES)}, got {size!r}")
    return RAFT(replace(SIZES[size], num_flow_updates=num_flow_updates))


def _listed(keys: list[str], count: int = 5) -> str:
    more = f" and {len(keys) - count} more" if len(keys) > count else ""
    return f"{len(keys)}: {', '.join(keys[:count])}{more}"


def load_raft(path: str | Path, size: str = "large") -> RAFT:
    """A RAFT of ``size`` with the weights of torchvision's ``.pth`` file at ``path``
    (a plain state dict), e.g. :data:`SINTEL_FILE` for AVLAE's Sintel RAFT.

    The keys must match exactly: missing, unexpected or wrong-shaped keys raise
    ``ValueError`` naming the file and the keys, before anything is loaded. The one
    allowance is a missing BatchNorm ``num_batches_tracked`` (a counter that does not
    change the output; PyTorch itself fills it in for older files).
    """
    path = Path(path)
    model = raft(size)  # checks size
    if not path.is_file():
        files = ", ".join(WEIGHT_FILES[size].values())
        raise FileNotFoundError(
            f"no RAFT weights at {path}: expected one of torchvision's raft_{size} "
            f"files ({files}) from https://download.pytorch.org/models/"
            + (f"; AVLAE's Sintel RAFT is {SINTEL_FILE}" if size == "large" else "")
        )
    state = load_weights(path, f"torchvision's raft_{size} weights")
    if not isinstance(state, dict) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ValueError(f"{path} is not a plain state dict of tensors")
    expected = model.state_dict()
    missing = [
        k for k in expected if k not in state and not k.endswith("num_batches_tracked")
    ]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} (want {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{name} keys {_listed(keys)}"
        for name, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong-shaped", misshaped),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"{path} does not hold torchvision's raft_{size} weights: "
            + "; ".join(problems)
        )
    model.load_state_dict({**expected, **state})
    return model
