"""Pictures of videos: uint8 conversion, grids, filmstrips, GIFs and figures.

Videos come in as ``(B, C, T, H, W)`` floats in ``[-1, 1]`` and are mapped to
``[0, 255]`` with ``(x + 1) / 2`` clamped (never per-batch min–max).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from einops import rearrange
from matplotlib import pyplot as plt
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from PIL import Image as PILImage

if TYPE_CHECKING:  # imported where used: fit writes its samples without IPython
    from IPython.display import HTML, Image


def to_uint8(videos: torch.Tensor) -> np.ndarray:
    """``(B, C, T, H, W)`` in [-1, 1] → ``(B, T, H, W, C)`` uint8."""
    if videos.ndim != 5:
        raise ValueError(
            f"expected videos (B, C, T, H, W), got shape {tuple(videos.shape)}"
        )
    scaled = ((videos.detach().float().cpu() + 1) / 2).clamp(0, 1) * 255
    return rearrange(scaled.round().to(torch.uint8), "b c t h w -> b t h w c").numpy()


def video_grid(
    videos: torch.Tensor, ncol: int | None = None, pad: int = 1
) -> np.ndarray:
    """Tile a batch into one video: ``(T, rows·(H+pad), ncol·(W+pad), C)`` uint8."""
    frames = to_uint8(videos)
    b = frames.shape[0]
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    blank = np.full((nrow * ncol - b, *frames.shape[1:]), 255, np.uint8)
    frames = np.concatenate([frames, blank])
    frames = np.pad(
        frames, ((0, 0), (0, 0), (0, pad), (0, pad), (0, 0)), constant_values=255
    )
    return rearrange(frames, "(r k) t h w c -> t (r h) (k w) c", r=nrow, k=ncol)


def filmstrip(videos: torch.Tensor, pad: int = 1) -> np.ndarray:
    """One row per video, one column per frame: ``(B·(H+pad), T·(W+pad), C)`` uint8."""
    frames = to_uint8(videos)
    frames = np.pad(
        frames, ((0, 0), (0, 0), (0, pad), (0, pad), (0, 0)), constant_values=255
    )
    return rearrange(frames, "b t h w c -> (b h) (t w) c")


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(..., H, W, C)`` so small frames stay crisp."""
    return image.repeat(factor, axis=-3).repeat(factor, axis=-2)


def png_bytes(image: np.ndarray) -> bytes:
    """An ``(H, W, C)`` uint8 array encoded as PNG."""
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: np.ndarray, path: Path) -> None:
    """Write an ``(H, W, C)`` uint8 array as PNG."""
    Path(path).write_bytes(png_bytes(image))


def gif_bytes(
    videos: torch.Tensor, ncol: int | None = None, fps: float = 8, scale: int = 1
) -> bytes:
    """An animated, looping GIF of the grid of ``videos``."""
    grid = upscale(video_grid(videos, ncol), scale)
    frames = [PILImage.fromarray(frame) for frame in grid]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,
    )
    return buffer.getvalue()


def save_gif(videos: torch.Tensor, path: Path, **kwargs: float) -> None:
    """Write :func:`gif_bytes` to ``path``."""
    Path(path).write_bytes(gif_bytes(videos, **kwargs))


def show_gif(
    videos: torch.Tensor, ncol: int | None = None, fps: float = 8, scale: int = 2
) -> Image:
    """An embedded GIF for a notebook output (renders in JupyterLab and the book)."""
    from IPython.display import Image

    return Image(data=gif_bytes(videos, ncol, fps, scale), format="gif")


def filmstrip_figure(
    videos: torch.Tensor,
    row_labels: Sequence[str] = (),
    title: str = "",
    frames: Sequence[int] | None = None,
    inch_per_frame: float = 0.7,
    column_titles: Sequence[str] | None = None,
) -> Figure:
    """Matplotlib figure: one row per video, columns are frames ``t`` (labelled
    ``t=…`` unless ``column_titles`` names them)."""
    t = videos.shape[2]
    frames = list(frames) if frames is not None else list(range(t))
    strip = to_uint8(videos[:, :, frames])
    b = strip.shape[0]
    fig, axes = plt.subplots(
        b,
        len(frames),
        figsize=(inch_per_frame * len(frames) + 1.2, inch_per_frame * b + 0.5),
        squeeze=False,
    )
    for i in range(b):
        for j, frame in enumerate(frames):
            ax = axes[i, j]
            ax.imshow(strip[i, j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                name = f"t={frame}" if column_titles is None else column_titles[j]
                ax.set_title(name, fontsize=8)
        if i < len(row_labels):
            axes[i, 0].set_ylabel(
                row_labels[i], fontsize=8, rotation=0, ha="right", va="center"
            )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def flow_to_rgb(
    flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None
) -> np.ndarray:
    """Colour-code optical flow ``(2, ..., H, W)`` (``dx``, ``dy`` in pixels) as
    ``(..., H, W, 3)`` uint8 on the HSV wheel: hue = direction (red = right, then
    counter-clockwise on screen through yellow-green = up), saturation = magnitude
    relative to ``max_magnitude`` (default: the largest in ``flow``), white = still."""
    flow = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else flow
    dx, dy = np.asarray(flow[0], np.float64), np.asarray(flow[1], np.float64)
    magnitude = np.hypot(dx, dy)
    scale = max_magnitude if max_magnitude is not None else magnitude.max()
    hue = (np.arctan2(-dy, dx) / (2 * math.pi)) % 1.0
    saturation = np.clip(magnitude / scale if scale > 0 else 0 * magnitude, 0, 1)
    hsv = np.stack([hue, saturation, np.ones_like(hue)], -1)
    return np.rint(hsv_to_rgb(hsv) * 255).astype(np.uint8)


def flow_wheel(size: int = 64) -> np.ndarray:
    """The legend of :func:`flow_to_rgb`: ``(size, size, 3)`` uint8, flow pointing
    from the centre to each pixel (unit magnitude on the inscribed circle)."""
    y, x = np.mgrid[:size, :size] + 0.5
    radius = size / 2
    wheel = flow_to_rgb(np.stack([(x - radius) / radius, (y - radius) / radius]), 1.0)
    outside = np.hypot(x - radius, y - radius) > radius
    wheel[outside] = 255
    return wheel


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> HTML:
    """A plain HTML table for notebook output (the book renders markdown output as
    CommonMark, which has no tables); cells are escaped ``str``-s. A table wider than
    the page scrolls sideways instead of running under the margin."""

    def row(cells: Sequence[object], tag: str) -> str:
        return (
            "<tr>"
            + "".join(
                f'<{tag} style="padding: 0.1em 0.6em">{escape(str(c))}</{tag}>'
                for c in cells
            )
            + "</tr>"
        )

    from IPython.display import HTML

    body = "".join(row(r, "td") for r in rows)
    return HTML(
        '<div style="overflow-x: auto">'
        f"<table><thead>{row(header, 'th')}</thead><tbody>{body}</tbody></table></div>"
    )


def change_table(change: Mapping[str, Mapping[str, float]]) -> HTML:
    """``judged_change``'s result as a table: a row per redrawn part, then chance."""
    factors = list(change["chance"])
    rows = [[part, *(f"{row[f]:.3f}" for f in factors)] for part, row in change.items()]
    return html_table(["redrawn", *factors], rows)
