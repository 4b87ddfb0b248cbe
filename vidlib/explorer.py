"""Latent explorers: pick an appearance code and a motion code, see the clip.

One component serves every model chapter. The clips of a grid of choices are drawn
when the cell runs and stored as the frames of ipywidgets ``Image``s in nested
``Stack``s (appearance → motion → frame). The sliders and the ``Play`` control are
tied to the stacks' ``selected_index`` with ``jsdlink``, a link the browser keeps, so
the explorer works in the static HTML with no kernel (the book embeds the widget
state and serves the widget manager itself). In JupyterLab the same links run live,
and the "draw new codes" button calls the model again through the kernel.

The browser check of the built book (:mod:`vidlib.runner.pages`) finds explorers by
their CSS classes: ``vidlib-explorer`` on the root, ``vidlib-explorer-axis`` on each
code slider and ``vidlib-explorer-frame`` on the frame slider.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import torch

from vidlib.method import Method, eval_mode
from vidlib.metrics.disentanglement import swap_grid
from vidlib.viz import png_bytes, to_uint8, upscale

#: draws the explorer's videos ``(A, M, C, T, H, W)`` for a seed
Draw = Callable[[int], torch.Tensor]


def _check_shape(videos: torch.Tensor) -> None:
    if videos.ndim != 6:
        raise ValueError(
            f"expected videos (A, M, C, T, H, W), got shape {tuple(videos.shape)}"
        )


def frames_png(videos: torch.Tensor, scale: int) -> list[list[list[bytes]]]:
    """``(A, M, C, T, H, W)`` videos in [-1, 1] → PNG bytes ``[a][m][t]``, each frame
    upscaled ``scale``× by nearest neighbour so small frames stay crisp."""
    _check_shape(videos)
    return [
        [[png_bytes(upscale(f, scale)) for f in clip] for clip in to_uint8(row)]
        for row in videos
    ]


def explorer(
    videos: torch.Tensor,
    axes: tuple[str, str] = ("appearance", "motion"),
    *,
    scale: int | None = None,
    fps: float = 6.0,
    draw: Draw | None = None,
    seed: int = 0,
) -> widgets.VBox:
    """An explorer of ``videos`` ``(A, M, C, T, H, W)``: a slider per axis named in
    ``axes`` (none for an axis of size 1), a frame slider with a Play control, the
    clip; with ``draw``, a button that replaces the clips by ``draw(seed + k)`` at its
    ``k``-th press (needs a running kernel). ``scale`` defaults to about 128 pixels
    a side."""
    _check_shape(videos)
    n_a, n_m, _, n_t, height, width = videos.shape
    scale = scale or max(1, 128 // max(height, width))
    pngs = frames_png(videos, scale)
    size = {"width": f"{width * scale}px", "height": f"{height * scale}px"}
    images = [
        [[widgets.Image(value=p, format="png", **size) for p in clip] for clip in row]
        for row in pngs
    ]
    frame = widgets.IntSlider(0, min=0, max=n_t - 1, description="frame")
    frame.add_class("vidlib-explorer-frame")
    play = widgets.Play(0, min=0, max=n_t - 1, interval=round(1000 / fps))
    play.repeat = True
    widgets.jslink((play, "value"), (frame, "value"))
    a_slider, m_slider = (_axis_slider(axes[0], n_a), _axis_slider(axes[1], n_m))
    rows = []
    for row in images:
        clips = [_stack(clip, frame) for clip in row]
        rows.append(_stack(clips, m_slider))
    clip_view = _stack(rows, a_slider)
    sliders = [s for s in (a_slider, m_slider) if s is not None]
    children = [widgets.HBox(sliders), widgets.HBox([play, frame]), clip_view]
    if draw is not None:
        children.append(_redraw_button(images, scale, draw, seed))
    root = widgets.VBox(children)
    root.add_class("vidlib-explorer")
    return root


def _axis_slider(name: str, n: int) -> widgets.IntSlider | None:
    """A slider over an axis of ``n`` choices; none for a single choice."""
    if n == 1:
        return None
    slider = widgets.IntSlider(0, min=0, max=n - 1, description=name)
    slider.style.description_width = "initial"
    slider.layout.width = "28em"
    slider.add_class("vidlib-explorer-axis")
    return slider


def _stack(
    children: list[widgets.Widget], slider: widgets.IntSlider | None
) -> widgets.Stack:
    """A Stack showing child ``slider.value`` (tied in the browser by ``jsdlink``)."""
    stack = widgets.Stack(children, selected_index=0)
    if slider is not None:
        widgets.jsdlink((slider, "value"), (stack, "selected_index"))
    return stack


def _redraw_button(
    images: list[list[list[widgets.Image]]], scale: int, draw: Draw, seed: int
) -> widgets.Button:
    """A button that redraws the clips in place (the stacks and links stay)."""
    button = widgets.Button(
        description="draw new codes (kernel)",
        tooltip="calls the model again: needs a running kernel (JupyterLab)",
        layout={"width": "fit-content"},
    )
    presses = [0]

    def redraw(_: widgets.Button) -> None:
        presses[0] += 1
        pngs = frames_png(draw(seed + presses[0]), scale)
        for image_row, png_row in zip(images, pngs, strict=True):
            for image_clip, png_clip in zip(image_row, png_row, strict=True):
                for image, png in zip(image_clip, png_clip, strict=True):
                    image.value = png

    button.on_click(redraw)
    return button


def swap_explorer(
    method: Method,
    n_appearance: int = 4,
    n_motion: int = 4,
    seed: int = 0,
    **options: float,
) -> widgets.VBox:
    """An explorer of ``method``'s swap grid: row ``a`` keeps appearance code ``a``,
    column ``m`` motion code ``m`` (:func:`~vidlib.metrics.disentanglement.swap_grid`,
    every net in eval mode)."""

    def draw(s: int) -> torch.Tensor:
        with eval_mode(method):
            return swap_grid(method, n_appearance, n_motion, s).float().cpu()

    axes = (
        f"appearance code {method.appearance_code}",
        f"motion code {method.motion_code}",
    )
    return explorer(draw(seed), axes, draw=draw, seed=seed, **options)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (each row flattened):
    the path keeps the norm a Gaussian code is drawn with, where a straight line
    passes through codes of lower norm than any the generator trained on."""
    flat_a, flat_b = a.flatten(1), b.flatten(1)
    cos = torch.nn.functional.cosine_similarity(flat_a, flat_b).clamp(-1, 1)
    omega = torch.arccos(cos)[:, None]
    sin = torch.sin(omega)
    straight = (1 - t) * flat_a + t * flat_b  # where a and b are (anti)parallel
    curved = (torch.sin((1 - t) * omega) * flat_a + torch.sin(t * omega) * flat_b) / sin
    out = torch.where(sin.abs() > 1e-6, curved, straight)
    return out.reshape(a.shape)


@torch.no_grad()
def interpolation_grid(
    method: Method, n_pairs: int, steps: int, seed: int
) -> torch.Tensor:
    """Videos ``(P, S, C, T, H, W)``: row ``p`` walks in ``steps`` from one draw of
    all codes to a second draw along :func:`slerp` (integer codes, e.g. categories,
    stay those of the first draw), every net in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    start, end = method.codes(n_pairs, gen), method.codes(n_pairs, gen)
    clips = []
    with eval_mode(method):
        for t in torch.linspace(0, 1, steps).tolist():
            codes = {
                k: slerp(v, end[k], t) if v.is_floating_point() else v
                for k, v in start.items()
            }
            clips.append(method.generate(codes).float().cpu())
    return torch.stack(clips, dim=1)


def interpolation_explorer(
    method: Method, n_pairs: int = 4, steps: int = 5, seed: int = 0, **options: float
) -> widgets.VBox:
    """An explorer for a model with no separate appearance and motion codes: a
    slider over pairs of draws, one over the steps between them
    (:func:`interpolation_grid`)."""

    def draw(s: int) -> torch.Tensor:
        return interpolation_grid(method, n_pairs, steps, s)

    axes = ("pair of draws", "step from the first draw to the second")
    return explorer(draw(seed), axes, draw=draw, seed=seed, **options)
