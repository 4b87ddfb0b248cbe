"""A small flow network for the book's cpu profile, in place of AVLAE's RAFT.

AVLAE (Sec. 4.2) estimates the flow of every pair of consecutive frames with RAFT
pretrained on Sintel, at 1/8 of the input resolution, frozen, passing gradients to the
generator. Pretrained RAFT weights cannot be downloaded here, so the cpu profile uses
this network instead, trained on Shapes' ground-truth flow by
:mod:`vidlib.shapes_flow` (which also documents the target and the measured errors).

The architecture is a FlowNetS-style stack (Dosovitskiy et al. 2015, the paper's
[14]) shrunk for Shapes: the two frames and their difference, concatenated (9
channels), go through 3×3 convolutions with LeakyReLU(0.1) (FlowNet's slope), a
stride-1 one of width ``w`` and then ``log2(stride)`` levels of a stride-2 and a
stride-1 convolution, of widths ``2w, 4w, 4w, ...``; a last 3×3 convolution reads off
``(dx, dy)`` in pixels of the input, one vector per ``stride × stride`` cell. With
``w = 8`` and stride 8 that is 37,106 parameters. There is no normalisation layer, so
eval mode changes nothing and a frozen copy is a fixed differentiable function of its
input frames.

Tried on Shapes at 32×32×8 and 64×64×16 (``vidlib.shapes_flow`` gives the figures):
width 16 learned no better per second of training than width 8 with more steps;
without the difference channel the moving-cell error was 7 % higher at the same
budget; a FlowNetC-style variant (shared encoder to stride 4, a local correlation of
radius 2, a decoder) matched this net at 32×32 only when it predicted at stride 4 and
averaged, took 1.5 times as long, and stayed at zero flow at 64×64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SmallFlowConfig:
    """Sizes of :class:`SmallFlow`: the output grid is ``H / stride × W / stride``."""

    width: int = 16  # channels of the first convolution; doubled per level up to 4x
    stride: int = 8  # a power of two >= 2; AVLAE's RAFT flow: 1/8

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be a positive int, got {self.width!r}")
        if (
            not isinstance(self.stride, int)
            or self.stride < 2
            or self.stride & (self.stride - 1)
        ):
            raise ValueError(
                f"stride must be a power of two >= 2 (2, 4, 8, ...), "
                f"got {self.stride!r}"
            )


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1))


class SmallFlow(nn.Module):
    """FlowNetS-style flow at ``1 / stride`` of the input (module docstring).

    ``forward(image1, image2)``: frames ``(B, 3, H, W)`` in [-1, 1], ``H`` and ``W``
    divisible by ``stride`` → forward flow ``(B, 2, H / stride, W / stride)``,
    ``(dx, dy)`` in input pixels (the contract of :mod:`vidlib.flow`).
    """

    def __init__(self, cfg: SmallFlowConfig = SmallFlowConfig()) -> None:  # noqa: B008
        super().__init__()
        self.cfg = cfg
        self.stride = cfg.stride
        layers = [_conv(9, cfg.width)]
        channels = cfg.width
        for level in range(int(math.log2(cfg.stride))):
            wider = cfg.width * 2 ** min(level + 1, 2)
            layers += [_conv(channels, wider, 2), _conv(wider, wider)]
            channels = wider
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 2, 3, 1, 1)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        if image1.shape != image2.shape or image1.ndim != 4 or image1.shape[1] != 3:
            raise ValueError(
                "image1 and image2 must both be (B, 3, H, W), got "
                f"{tuple(image1.shape)} and {tuple(image2.shape)}"
            )
        h, w = image1.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(
                f"flow estimator of stride {self.stride} needs H and W divisible by "
                f"it, got {h}x{w}"
            )
        frames = torch.cat([image1, image2, image2 - image1], dim=1)
        return self.head(self.body(frames))


__all__ = ["SmallFlow", "SmallFlowConfig"]
