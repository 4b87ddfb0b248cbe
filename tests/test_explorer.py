"""The latent explorer: which frame each widget holds, how the browser links them,
the live redraw, and the interpolation path. That the links move the displayed
frame in a real browser is checked on the built book (tests/test_pages.py and
``make check-pages``)."""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import DirectionalLink, Link
from PIL import Image
from test_judges import SMOKE

from vidlib.explorer import (
    explorer,
    interpolation_explorer,
    interpolation_grid,
    slerp,
    swap_explorer,
)
from vidlib.metrics.disentanglement import swap_grid
from vidlib.metrics.oracles import ShapesOracle
from vidlib.viz import to_uint8


def decoded(image: widgets.Image) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image.value)).convert("RGB"))


def clip_view(root: widgets.VBox) -> widgets.Stack:
    return next(c for c in root.children if isinstance(c, widgets.Stack))


def sliders(root: widgets.VBox, css: str) -> list[widgets.IntSlider]:
    found = [
        w
        for box in root.children
        if isinstance(box, widgets.HBox)
        for w in box.children
    ]
    return [w for w in found if css in w._dom_classes]


def links_from(slider: widgets.Widget) -> list[widgets.Widget]:
    """The widgets that ``jsdlink``s from ``slider.value`` drive (browser-side)."""
    return [
        w.target[0]
        for w in list(_instances.values())
        if isinstance(w, DirectionalLink) and w.source == (slider, "value")
    ]


def random_videos(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_each_image_holds_its_frame_upscaled_in_grid_order() -> None:
    videos = random_videos(3, 2, 3, 5, 4, 6)
    root = explorer(videos, scale=3)
    expected = to_uint8(videos.flatten(0, 1)).reshape(3, 2, 5, 4, 6, 3)
    view = clip_view(root)
    assert len(view.children) == 3
    for a in range(3):
        assert len(view.children[a].children) == 2
        for m in range(2):
            clip = view.children[a].children[m].children
            assert len(clip) == 5
            for t in range(5):
                frame = decoded(clip[t])
                assert frame.shape == (12, 18, 3)
                assert np.array_equal(frame[::3, ::3], expected[a, m, t])
                assert np.array_equal(frame[2::3, 2::3], expected[a, m, t])


def test_sliders_drive_the_stacks_of_their_axis_and_play_drives_the_frame() -> None:
    root = explorer(random_videos(3, 2, 3, 5, 4, 4), ("a", "m"))
    assert "vidlib-explorer" in root._dom_classes
    a_slider, m_slider = sliders(root, "vidlib-explorer-axis")
    (frame,) = sliders(root, "vidlib-explorer-frame")
    assert (a_slider.max, m_slider.max, frame.max) == (2, 1, 4)
    view = clip_view(root)
    assert links_from(a_slider) == [view]
    assert links_from(m_slider) == list(view.children)
    inner = [clip for row in view.children for clip in row.children]
    assert links_from(frame) == inner
    (play,) = [
        w
        for box in root.children
        if isinstance(box, widgets.HBox)
        for w in box.children
        if isinstance(w, widgets.Play)
    ]
    assert (play.max, play.repeat) == (4, True)
    linked = [
        w
        for w in list(_instances.values())
        if type(w) is Link and w.source == (play, "value")
    ]
    assert [w.target for w in linked] == [(frame, "value")]


def test_an_axis_of_one_choice_gets_no_slider() -> None:
    root = explorer(random_videos(1, 4, 3, 2, 4, 4))
    (only,) = sliders(root, "vidlib-explorer-axis")
    assert only.description == "motion" and only.max == 3
    assert len(clip_view(root).children) == 1


def test_the_redraw_button_replaces_every_frame_with_the_next_seed() -> None:
    seeds: list[int] = []

    def draw(seed: int) -> torch.Tensor:
        seeds.append(seed)
        return random_videos(2, 2, 3, 3, 4, 4, seed=seed)

    root = explorer(draw(7), draw=draw, seed=7, scale=1)
    (button,) = [c for c in root.children if isinstance(c, widgets.Button)]
    button.click()
    button.click()
    assert seeds == [7, 8, 9]
    expected = to_uint8(draw(9).flatten(0, 1)).reshape(2, 2, 3, 4, 4, 3)
    view = clip_view(root)
    assert np.array_equal(
        decoded(view.children[1].children[0].children[2]), expected[1, 0, 2]
    )
    assert not [c for c in explorer(draw(0)).children if isinstance(c, widgets.Button)]


def test_bad_videos_are_refused_naming_the_expected_shape() -> None:
    with pytest.raises(
        ValueError, match=r"\(A, M, C, T, H, W\), got shape \(2, 3, 4, 4, 4\)"
    ):
        explorer(torch.zeros(2, 3, 4, 4, 4))


def test_swap_explorer_shows_the_swap_grid() -> None:
    oracle = ShapesOracle(SMOKE)
    root = swap_explorer(oracle, n_appearance=2, n_motion=3, seed=4, scale=1)
    grid = swap_grid(oracle, 2, 3, seed=4)
    view = clip_view(root)
    for a in range(2):
        for m in range(3):
            first = decoded(view.children[a].children[m].children[0])
            assert np.array_equal(first, to_uint8(grid[a, m][None])[0, 0])
    names = [s.description for s in sliders(root, "vidlib-explorer-axis")]
    assert names == ["appearance code z_a", "motion code z_m"]


def test_slerp_ends_at_its_endpoints_and_keeps_the_norm_between_them() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 2, 5, generator=gen), torch.randn(6, 2, 5, generator=gen)
    b = b * (a.flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1))[:, None, None]
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-6)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    middle = slerp(a, b, 0.5)
    assert torch.allclose(middle.flatten(1).norm(dim=1), a.flatten(1).norm(dim=1))
    # halfway along the arc: equally far from both ends
    assert torch.allclose(
        (middle - a).flatten(1).norm(dim=1),
        (middle - b).flatten(1).norm(dim=1),
        atol=1e-5,
    )
    # parallel rows fall back to the straight line, with no NaN
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)


def test_interpolation_walks_from_one_draw_to_the_other() -> None:
    oracle = ShapesOracle(SMOKE)
    videos = interpolation_grid(oracle, n_pairs=2, steps=4, seed=5)
    assert videos.shape == (2, 4, 3, SMOKE.frames, SMOKE.resolution, SMOKE.resolution)
    gen = torch.Generator().manual_seed(5)
    start, end = oracle.codes(2, gen), oracle.codes(2, gen)
    assert torch.equal(videos[:, 0], oracle.generate(start))
    assert torch.allclose(videos[:, -1], oracle.generate(end))
    root = interpolation_explorer(oracle, n_pairs=2, steps=4, seed=5)
    assert [s.max for s in sliders(root, "vidlib-explorer-axis")] == [1, 3]
