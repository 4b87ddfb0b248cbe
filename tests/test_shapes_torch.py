"""Shapes rendered on a torch device: the same clips, labels and flow as the numpy
renderer, batch by batch (on the CPU here; on CUDA where there is one)."""

import numpy as np
import pytest
import torch

from vidlib.data.shapes import (
    FACTORS,
    ShapesConfig,
    ShapesVideos,
    coverage,
    label_names,
    render_batch,
    render_channels_first,
)

#: largest difference allowed between a torch and a numpy pixel in [-1, 1]: both
#: compute in float32, and torch's sqrt is not correctly rounded on every device
TOLERANCE = 1e-5


def every_value_appears(data: ShapesVideos, indices: range) -> None:
    """Fail unless items ``indices`` show every shape, colour, background and action
    (the comparisons below would otherwise leave some code untested)."""
    for key in FACTORS:
        seen = {getattr(data.factors(i), key) for i in indices}
        assert seen == set(label_names(key)), key


def assert_same_batch(batch: dict, items: list[dict], alpha: np.ndarray) -> None:
    """``batch`` is the collation of ``items``: the same keys in the same order,
    labels exactly, videos within ``TOLERANCE``, and flow exactly except where the
    coverage ``alpha`` (B, T, H, W) of its frame is so near 0.5 that rounding decides
    whether the object moves the pixel. (numpy stacks the items' videos: torch.stack
    on a shared 2-core machine takes seconds.)"""
    assert list(batch) == list(items[0])
    labels = torch.utils.data.default_collate(
        [
            {k: v for k, v in item.items() if k not in ("video", "flow")}
            for item in items
        ]
    )
    for key, value in labels.items():
        assert batch[key].dtype == value.dtype, key
        assert torch.equal(batch[key].cpu(), value), key
    video = np.stack([item["video"].numpy() for item in items])
    assert batch["video"].dtype == torch.float32
    assert batch["video"].shape == video.shape
    assert np.abs(batch["video"].cpu().numpy() - video).max() <= TOLERANCE
    if "flow" in batch:
        flow = np.stack([item["flow"].numpy() for item in items])
        ambiguous = np.abs(alpha[:, None, :-1] - 0.5) < TOLERANCE
        differs = np.abs(batch["flow"].cpu().numpy() - flow) > TOLERANCE
        assert not (differs & ~ambiguous).any()


CUDA = pytest.param(
    "cuda",
    marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
)


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize(
    ("resolution", "frames"), [(32, 1), (32, 2), (32, 9), (64, 8), (13, 5)]
)
def test_batch_equals_the_collated_items(
    resolution: int, frames: int, device: str
) -> None:
    config = ShapesConfig(resolution=resolution, frames=frames)
    data = ShapesVideos(config, size=60, seed=5, with_flow=frames > 1)
    indices = range(60)
    every_value_appears(data, indices)
    batch = data.batch(indices, device)
    assert all(value.device.type == device for value in batch.values())
    items = [data[i] for i in indices]
    alpha = np.stack([coverage(data.factors(i), resolution, frames) for i in indices])
    assert_same_batch(batch, items, alpha)


def test_render_batch_matches_each_video_in_any_grouping() -> None:
    """Batches in a shuffled order, of one video, and of one shape only render every
    video as ``render_channels_first`` does, in [0, 1]."""
    data = ShapesVideos(ShapesConfig(resolution=24, frames=6), size=40, seed=2)
    factors = [data.factors(i) for i in range(40)]
    order = np.random.default_rng(0).permutation(40)
    circles = [f for f in factors if f.shape == "circle"]
    for batch in ([factors[i] for i in order], factors[:1], circles):
        videos = render_batch(batch, 24, 6)
        expected = np.stack([render_channels_first(f, 24, 6) for f in batch])
        assert videos.shape == (len(batch), 3, 6, 24, 24)
        assert np.abs(videos.numpy() - expected).max() <= TOLERANCE / 2


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one video"):
        render_batch([], 32, 8)
