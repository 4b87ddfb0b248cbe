"""Optical-flow estimators for models that encode motion from flow (AVLAE's E_M).

A flow estimator is an ``nn.Module`` with an integer attribute ``stride`` whose
``forward(image1, image2)`` takes two batches of frames ``(B, 3, H, W)`` in [-1, 1]
and returns the forward flow from ``image1`` to ``image2``, ``(B, 2, H / stride,
W / stride)``, channels ``(dx, dy)``, in pixels of the input frames (``x`` to the
right, ``y`` down): frame 2 at ``p + flow(p)`` shows what frame 1 shows at ``p``, the
convention of :func:`vidlib.data.shapes.flow`. AVLAE's paper uses RAFT's flow at
1/8 of the input resolution (``stride = 8``).

This package holds the architectures and imports nothing but torch and einops, so a
model module may use it; estimators trained on data live outside it.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


def video_flow(estimator: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """The ``T - 1`` flows between consecutive frames of ``video`` ``(B, 3, T, H, W)``:
    ``(B, 2, T - 1, H / stride, W / stride)``, all pairs in one batch."""
    b, _, t, h, w = video.shape
    if t < 2:
        raise ValueError(f"flow needs clips of at least 2 frames, got T = {t}")
    stride = estimator.stride
    if h % stride or w % stride:
        raise ValueError(
            f"flow estimator of stride {stride} needs H and W divisible by it, "
            f"got {h}x{w}"
        )
    first = rearrange(video[:, :, :-1], "b c t h w -> (b t) c h w")
    second = rearrange(video[:, :, 1:], "b c t h w -> (b t) c h w")
    return rearrange(estimator(first, second), "(b t) c h w -> b c t h w", b=b)


def freeze(estimator: nn.Module) -> nn.Module:
    """``estimator`` in eval mode with every parameter's ``requires_grad`` off, so it
    is never updated but still passes gradients to its inputs."""
    estimator.eval()
    for parameter in estimator.parameters():
        parameter.requires_grad_(False)
    return estimator
