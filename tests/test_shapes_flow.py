"""Shapes v2: ground-truth optical flow (checked by warping), the mixed image/video
mode, and the flow colour coding."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from test_shapes import centroids

from vidlib.data.mixed import MixedImagesVideos, collate_mixed
from vidlib.data.shapes import ShapesConfig, ShapesVideos, coverage
from vidlib.viz import flow_to_rgb, flow_wheel


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``(H, W, C)`` at pixel coordinates ``x, y`` (pixel i spans i..i+1)."""
    h, w = image.shape[:2]
    x, y = np.clip(x - 0.5, 0, w - 1), np.clip(y - 0.5, 0, h - 1)
    x0, y0 = (
        np.minimum(np.floor(x).astype(int), w - 2),
        np.minimum(np.floor(y).astype(int), h - 2),
    )
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def warp_errors(item: dict, flow: np.ndarray, alpha: np.ndarray) -> tuple[float, float]:
    """Largest |frame_t(p) - frame_{t+1}(p + flow(p))| on the object's interior and
    on background that the object covers in neither frame (occlusions excluded)."""
    video = item["video"].numpy().transpose(1, 2, 3, 0)  # (T, H, W, 3)
    ys, xs = np.mgrid[: video.shape[1], : video.shape[2]] + 0.5
    inside, outside = [], []
    for t in range(video.shape[0] - 1):
        moved = bilinear(video[t + 1], xs + flow[0, t], ys + flow[1, t])
        error = np.abs(moved - video[t]).max(-1)
        interior = ndimage.binary_erosion(alpha[t] >= 1, iterations=2)
        free = ~ndimage.binary_dilation(
            (alpha[t] > 0) | (alpha[t + 1] > 0), iterations=2
        )
        inside.append(error[interior])
        outside.append(error[free])
    return float(np.concatenate(inside).max()), float(np.concatenate(outside).max())


def object_error(item: dict, flow: np.ndarray, alpha: np.ndarray) -> float:
    """Mean |frame_t(p) - frame_{t+1}(p + flow(p))| over the object's pixels."""
    video = item["video"].numpy().transpose(1, 2, 3, 0)
    ys, xs = np.mgrid[: video.shape[1], : video.shape[2]] + 0.5
    errors = []
    for t in range(video.shape[0] - 1):
        moved = bilinear(video[t + 1], xs + flow[0, t], ys + flow[1, t])
        errors.append(np.abs(moved - video[t]).max(-1)[alpha[t] >= 1])
    return float(np.concatenate(errors).mean())


@pytest.mark.parametrize("action", ["right", "up", "orbit", "pulse"])
def test_flow_warps_frame_t_onto_frame_t_plus_1(action: str) -> None:
    config = ShapesConfig(resolution=48, frames=6, actions=(action,))
    data = ShapesVideos(config, size=3, seed=1, with_flow=True)
    for index in range(3):
        item = data[index]
        flow = item["flow"].numpy()
        assert flow.shape == (2, 5, 48, 48) and flow.dtype == np.float32
        alpha = coverage(data.factors(index), 48, 6)
        assert np.all(flow[:, alpha[:-1] < 0.5] == 0)  # the background is still
        inside, outside = warp_errors(item, flow, alpha)
        # A fast pulse can carry a point 2 px inside the object to within a pixel of
        # the shrunken edge, where bilinear sampling blends (up to 0.053 over 40 draws)
        assert inside < (0.06 if action == "pulse" else 0.02) and outside < 1e-6
        # the check sees motion: on the object, zero flow warps far worse
        still = object_error(item, np.zeros_like(flow), alpha)
        assert object_error(item, flow, alpha) < still / 3
        if action != "pulse":  # rigid motion: flow = displacement of the centroid
            shift = np.diff(centroids(alpha), axis=0)  # (T - 1, 2)
            on_object = alpha[:-1] >= 0.5
            for t in range(5):
                error = np.abs(flow[:, t][:, on_object[t]].T - shift[t]).max()
                assert error < 0.05  # pixels; the centroid of sampled coverage aliases


def test_flow_is_opt_in_and_leaves_videos_and_configs_unchanged() -> None:
    config = ShapesConfig(resolution=16, frames=4)
    plain, flowing = (
        ShapesVideos(config, size=4),
        ShapesVideos(config, size=4, with_flow=True),
    )
    assert "flow" not in plain[0] and "with_flow" not in plain.config
    assert torch.equal(plain[2]["video"], flowing[2]["video"])
    assert flowing.config == plain.config | {"with_flow": True}
    image = ShapesVideos(ShapesConfig(resolution=16, frames=1), size=2, with_flow=True)[
        0
    ]
    assert image["flow"].shape == (2, 0, 16, 16)


def test_mixed_mode_is_deterministic_and_images_are_frames_of_videos() -> None:
    videos = ShapesVideos(
        ShapesConfig(resolution=16, frames=4), size=200, with_flow=True
    )
    mixed = MixedImagesVideos(videos, image_fraction=0.3, seed=5)
    items = [mixed[i] for i in range(200)]
    again = MixedImagesVideos(videos, image_fraction=0.3, seed=5)
    assert all(torch.equal(again[i]["video"], items[i]["video"]) for i in (0, 7, 199))
    images = [item for item in items if item["is_image"]]
    assert 40 <= len(images) <= 80  # 30 % of 200
    for item in images[:5]:
        assert item["video"].shape == (3, 1, 16, 16) and "flow" not in item
        full = videos[item["index"]]["video"]
        assert torch.equal(item["video"][:, 0], full[:, item["frame"]])
    assert {item["frame"] for item in images} == {0, 1, 2, 3}
    assert mixed.config["mixed"] == {"image_fraction": 0.3, "seed": 5}
    batch = collate_mixed(items[:16])
    counts = sum(item["is_image"] for item in items[:16])
    assert batch["images"]["video"].shape == (counts, 3, 1, 16, 16)
    assert batch["videos"]["video"].shape == (16 - counts, 3, 4, 16, 16)
    assert collate_mixed(images[:2])["videos"] is None
    with pytest.raises(ValueError, match="image_fraction"):
        MixedImagesVideos(videos, image_fraction=1.5)


def test_flow_colours_follow_the_hsv_wheel() -> None:
    directions = np.array([[1.0, 0.0, -1.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.0, 0.0]])
    colours = flow_to_rgb(directions[:, None, :], max_magnitude=1.0)[0]
    # right = red, up = hue 90 deg (chartreuse), left = cyan, down = hue 270 (violet)
    assert colours.tolist() == [
        [255, 0, 0], [128, 255, 0], [0, 255, 255], [128, 0, 255], [255, 255, 255]
    ]  # fmt: skip
    half = flow_to_rgb(np.array([[[0.5]], [[0.0]]]), max_magnitude=1.0)[0, 0]
    assert half.tolist() == [255, 128, 128]  # half the magnitude: half saturated
    wheel = flow_wheel(32)
    assert wheel.shape == (32, 32, 3) and wheel[0, 0].tolist() == [255, 255, 255]
    assert wheel[16, 30].tolist()[0] == 255 and wheel[16, 30, 1] < 60  # right edge: red
