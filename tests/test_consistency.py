"""ACD, SSIM, FCS and NAVS MCS against independent computations."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from vidlib.data.shapes import COLORS, ShapesConfig, ShapesVideos
from vidlib.metrics.consistency import (
    acd,
    fcs,
    frame_consistency,
    mcs,
    mean_feature_difference,
    pixel_features,
    shape_colours,
    ssim,
)
from vidlib.metrics.motion import shuffled_videos, static_videos


def colour_track(
    colours: list[tuple[float, float, float]], size: int = 16
) -> torch.Tensor:
    """One video (3, T, size, size): a saturated square whose colour follows ``colours``
    over a black background, in [-1, 1]."""
    video = torch.zeros(3, len(colours), size, size)
    for t, c in enumerate(colours):
        video[:, t, 4:12, 4:12] = torch.tensor(c)[:, None, None]
    return video * 2 - 1


def test_acd_on_synthetic_colour_tracks():
    constant = colour_track([(1, 0, 0)] * 4)
    changing = colour_track([(1, 0, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1)])
    d = shape_colours(torch.stack([constant, changing]))
    assert d[0].tolist() == [[255.0, 0.0, 0.0]] * 4
    assert acd(d[:1]) == 0.0
    r, g, b = (np.array(c) * 255.0 for c in [(1, 0, 0), (0, 1, 0), (0, 0, 1)])
    track = [r, g, r, b]
    all_pairs = np.mean(
        [np.linalg.norm(track[i] - track[j]) for i in range(4) for j in range(i + 1, 4)]
    )
    assert acd(d[1:]) == pytest.approx(all_pairs, rel=1e-6)
    assert acd(d) == pytest.approx(all_pairs / 2, rel=1e-6)
    consecutive = np.mean([np.linalg.norm(track[i + 1] - track[i]) for i in range(3)])
    assert acd(d[1:], "consecutive") == pytest.approx(consecutive, rel=1e-6)


def test_shape_colours_on_shapes_videos():
    data = ShapesVideos(ShapesConfig(resolution=32, frames=4), split="test")
    item = data[0]
    colour = list(COLORS.values())[item["color"]]
    got = shape_colours(item["video"][None])[0]
    # anti-aliased edges blend with the background: the mean stays near the colour
    assert torch.allclose(got, torch.tensor(colour) * 255 * torch.ones(4, 1), atol=40)
    assert acd(got[None]) < 20  # edge pixels blend a little differently per frame


def test_acd_bad_input():
    with pytest.raises(ValueError, match="pairs"):
        acd(torch.zeros(1, 3, 3), "some")
    with pytest.raises(ValueError, match=r"\(B, T>=2, D\)"):
        acd(torch.zeros(1, 1, 3))


def test_ssim_matches_scikit_image():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 24, 20, generator=gen)
    y = (x + 0.2 * torch.randn(3, 3, 24, 20, generator=gen)).clamp(0, 1)
    got = ssim(x, y)
    for n in range(3):
        expected = structural_similarity(
            x[n].numpy().astype(np.float64),
            y[n].numpy().astype(np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=0,
        )
        assert got[n].item() == pytest.approx(expected, abs=1e-6)
    assert torch.allclose(ssim(x, x), torch.ones(3))


def test_fcs_reacts_to_static_and_shuffled():
    data = ShapesVideos(ShapesConfig(resolution=32, frames=8), split="test")
    videos = torch.stack([data[i]["video"] for i in range(8)])
    assert fcs(static_videos(videos)) == pytest.approx(1.0, abs=1e-6)
    assert frame_consistency(videos).shape == (8,)
    assert fcs(videos) < 1.0
    with pytest.raises(ValueError, match="T>=2"):
        fcs(videos[:, :, :1])


def test_mcs_against_hand_computation():
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(3, 1, 4, 2, 2, generator=gen) * 2 - 1
    fake = torch.rand(2, 1, 4, 2, 2, generator=gen) * 2 - 1

    def f(videos):
        p = ((videos + 1) / 2).numpy().reshape(videos.shape[0], 4, 4)  # (B, T, D)
        return np.mean(
            [p[b, t + 1] - p[b, t] for b in range(len(p)) for t in range(3)], 0
        )

    expected = math.log10(((f(real) - f(fake)) ** 2).sum())
    assert mcs(fake, real, pixel_features, batch_size=4) == pytest.approx(
        expected, rel=1e-6
    )
    np.testing.assert_allclose(
        mean_feature_difference(real, pixel_features), f(real), rtol=1e-6
    )
    assert mcs(real, real) == float("-inf")


def test_mcs_static_fake_compares_to_real_motion():
    data = ShapesVideos(ShapesConfig(resolution=16, frames=6), split="test")
    real = torch.stack([data[i]["video"] for i in range(6)])
    f = mean_feature_difference(real, pixel_features)
    expected = math.log10(f.square().sum().item())
    assert mcs(static_videos(real), real) == pytest.approx(expected, rel=1e-9)
    shuffled = shuffled_videos(real, torch.Generator().manual_seed(0))
    assert math.isfinite(mcs(shuffled, real))
