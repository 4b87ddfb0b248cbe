"""Mean frame difference against a hand computation and its reference rows."""

from __future__ import annotations

import pytest
import torch

from vidlib.metrics.motion import mean_frame_difference, shuffled_videos, static_videos


def test_mean_frame_difference_by_hand() -> None:
    # One pixel, one channel: values -1, 0, 1 → [0, 0.5, 1]: differences 0.5, 0.5.
    video = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 3, 1, 1)
    assert mean_frame_difference(video).item() == pytest.approx(0.5)
    two = torch.cat([video, video.flip(2) * 0]).expand(2, 3, 3, 2, 2)
    assert mean_frame_difference(two).tolist() == pytest.approx([0.5, 0.0])


def test_reference_rows_react() -> None:
    gen = torch.Generator().manual_seed(0)
    ramp = torch.linspace(-1, 1, 8).view(1, 1, 8, 1, 1).expand(4, 3, 8, 4, 4)
    assert mean_frame_difference(static_videos(ramp)).max().item() == 0
    shuffled = shuffled_videos(ramp, gen)
    assert torch.equal(shuffled.sort(dim=2).values, ramp)  # same frames
    assert (mean_frame_difference(shuffled) > mean_frame_difference(ramp)).all()


def test_single_frame_is_refused() -> None:
    with pytest.raises(ValueError, match=r"T>=2"):
        mean_frame_difference(torch.zeros(1, 3, 1, 4, 4))
