"""The papers' spatial preprocessing on uint8 ``(T, H, W, 3)`` clips, and the
conversion to the book's ``(C, T, H, W)`` float tensors in ``[-1, 1]``.

Every transform works frame by frame, so cropping and resizing a whole video and
then taking a clip gives the same pixels as taking the clip first (the decoded-clip
cache relies on it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange


@dataclass(frozen=True)
class Preprocess:
    """Crop, then resize to ``size = (height, width)``.

    ``crop``:
      * ``"center"``: the largest centred square (NAVS Weizmann, Chair-CAD);
      * ``"short_side"``: scale the short side to the output size keeping the aspect
        ratio (rounded), then take the centred square -- TGAN/G3AN UCF101 (320x240 ->
        85x64 -> 64x64) and AVLAE (170x128 -> 128x128);
      * ``"box"``: the fractional box ``box = (top, left, bottom, right)`` of each
        frame (Chair-CAD: ``[100:500, 100:500]`` of 600x600 = ``(1/6, 1/6, 5/6, 5/6)``);
      * ``"none"``: resize the whole frame (NAVS action exchange, "without any
        cropping").

    Resizing is bilinear with antialiasing (``torch.nn.functional.interpolate``),
    rounded back to uint8.
    """

    size: tuple[int, int]
    crop: str = "center"
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.crop not in ("center", "short_side", "box", "none"):
            raise ValueError(
                "crop must be 'center', 'short_side', 'box' or 'none', "
                f"got {self.crop!r}"
            )
        top, left, bottom, right = self.box
        if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
            raise ValueError(
                f"box must be fractions (top, left, bottom, right): {self.box}"
            )
        if min(self.size) < 1:
            raise ValueError(f"size must be positive, got {self.size}")

    def __call__(self, video: np.ndarray) -> np.ndarray:
        """``(T, H, W, 3)`` uint8 -> ``(T, size[0], size[1], 3)`` uint8."""
        height, width = video.shape[1:3]
        if self.crop == "center":
            side = min(height, width)
            video = _crop(video, (height - side) // 2, (width - side) // 2, side, side)
        elif self.crop == "box":
            top, left, bottom, right = self.box
            y0, y1 = round(top * height), round(bottom * height)
            x0, x1 = round(left * width), round(right * width)
            video = _crop(video, y0, x0, y1 - y0, x1 - x0)
        elif self.crop == "short_side":
            scale = min(self.size) / min(height, width)
            scaled = (round(height * scale), round(width * scale))
            video = resize(video, scaled)
            return _crop(
                video,
                (scaled[0] - self.size[0]) // 2,
                (scaled[1] - self.size[1]) // 2,
                *self.size,
            )
        return resize(video, self.size)

    def config(self) -> dict:
        """The transform as primitives."""
        return {
            key: list(v) if isinstance(v, tuple) else v
            for key, v in asdict(self).items()
        }


def _crop(
    video: np.ndarray, top: int, left: int, height: int, width: int
) -> np.ndarray:
    return video[:, top : top + height, left : left + width]


def resize(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, antialiased resize of ``(T, H, W, 3)`` uint8 to ``size = (h, w)``."""
    if video.shape[1:3] == tuple(size):
        return np.ascontiguousarray(video)
    frames = rearrange(
        torch.from_numpy(np.ascontiguousarray(video)), "t h w c -> t c h w"
    )
    out = F.interpolate(
        frames.float(), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    out = out.round_().clamp_(0, 255).to(torch.uint8)
    return rearrange(out, "t c h w -> t h w c").numpy()


def hflip(video: np.ndarray) -> np.ndarray:
    """Mirror ``(T, H, W, C)`` left-right."""
    return np.ascontiguousarray(video[:, :, ::-1])


def to_tensor(video: np.ndarray) -> torch.Tensor:
    """``(T, H, W, C)`` uint8 -> ``(C, T, H, W)`` float32 in ``[-1, 1]``."""
    tensor = torch.from_numpy(np.ascontiguousarray(video))
    return rearrange(tensor, "t h w c -> c t h w").float().div_(127.5).sub_(1)
