"""Shapes v1: determinism, paths, rendering, labels, holdout splits and bad input."""

import json
import math
import pickle

import numpy as np
import pytest
import torch

from vidlib.data.shapes import (
    ACTIONS,
    BACKGROUNDS,
    COLORS,
    DATASET,
    FACTORS,
    SHAPES,
    ShapesConfig,
    ShapesFactors,
    ShapesPath,
    ShapesVideos,
    background_image,
    combinations,
    coverage,
    label_names,
    render,
    render_channels_first,
    sample_factors,
)

SMALL = ShapesConfig(resolution=32, frames=8)
HOLDOUT = [
    {"shape": "circle", "action": "orbit"},
    {"color": "red", "background": "gray", "action": "left"},
]


def only(action: str, **overrides: object) -> ShapesConfig:
    """A config whose every video performs ``action``."""
    return ShapesConfig(
        **{"resolution": 32, "frames": 8, "actions": (action,)} | overrides
    )


def recovered_coverage(item: dict) -> np.ndarray:
    """Object coverage ``(T, H, W)`` read back from the video alone, via its labels."""
    resolution = item["video"].shape[-1]
    video = (item["video"].numpy().transpose(1, 2, 3, 0) + 1) / 2  # (T, H, W, 3)
    background = background_image(BACKGROUNDS[item["background"]], resolution)
    color = np.asarray(COLORS[label_names("color")[item["color"]]])
    difference = color - background
    alpha = ((video - background) * difference).sum(-1) / (difference**2).sum(-1)
    return np.where(np.abs(alpha) < 1e-5, 0.0, alpha)


def centroids(alpha: np.ndarray) -> np.ndarray:
    """Coverage-weighted centre ``(x, y)`` in pixels of each frame, ``(T, 2)``."""
    ys, xs = np.mgrid[: alpha.shape[1], : alpha.shape[2]] + 0.5
    area = alpha.sum((1, 2))
    return (
        np.stack([(alpha * xs).sum((1, 2)), (alpha * ys).sum((1, 2))], 1)
        / area[:, None]
    )


def test_items_are_deterministic_across_instances_and_order() -> None:
    first, second = ShapesVideos(SMALL, size=20, seed=3), ShapesVideos(SMALL, 20, 3)
    order = [7, 0, 19, 3]
    expected = {i: first[i] for i in order}
    for i in reversed(order):
        item = second[i]
        assert torch.equal(item["video"], expected[i]["video"])
        assert item.keys() == expected[i].keys()
        assert all(item[k] == expected[i][k] for k in item if k != "video")
        assert second.factors(i) == first.factors(i)


@pytest.mark.parametrize("other", [{"seed": 4}, {"split": "test"}])
def test_seed_and_split_give_different_videos(other: dict) -> None:
    base = ShapesVideos(SMALL, size=10, seed=3)
    changed = ShapesVideos(SMALL, **{"size": 10, "seed": 3} | other)
    for i in range(10):
        assert not torch.equal(base[i]["video"], changed[i]["video"])


def test_frames_only_change_temporal_sampling() -> None:
    short = ShapesVideos(ShapesConfig(resolution=32, frames=8), size=12)
    long = ShapesVideos(ShapesConfig(resolution=32, frames=15), size=12)
    for i in range(12):
        assert short.factors(i) == long.factors(i)
        a, b = short[i]["video"], long[i]["video"]
        assert torch.equal(a[:, 0], b[:, 0]) and torch.equal(a[:, -1], b[:, -1])


def test_single_frame_is_the_first_frame() -> None:
    image = ShapesVideos(ShapesConfig(resolution=32, frames=1), size=5)
    video = ShapesVideos(SMALL, size=5)
    for i in range(5):
        assert image[i]["video"].shape == (3, 1, 32, 32)
        assert torch.equal(image[i]["video"][:, 0], video[i]["video"][:, 0])


@pytest.mark.parametrize(("resolution", "frames"), [(8, 3), (13, 5), (32, 8), (64, 16)])
def test_item_types_shapes_and_value_range(resolution: int, frames: int) -> None:
    data = ShapesVideos(ShapesConfig(resolution=resolution, frames=frames), size=12)
    assert len(data) == 12
    for i in range(12):
        item = data[i]
        video = item["video"]
        assert video.dtype == torch.float32
        assert video.shape == (3, frames, resolution, resolution)
        assert video.min() >= -1 and video.max() <= 1
        assert item["index"] == i
        assert all(isinstance(item[key], int) for key in FACTORS)
        for key in ("size", "speed", "phase", "x0", "y0"):
            assert isinstance(item[key], float)


def test_batches_collate_and_the_dataset_pickles_for_workers() -> None:
    data = pickle.loads(pickle.dumps(ShapesVideos(SMALL, size=6)))
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert batch["video"].shape == (4, 3, 8, 32, 32)
    assert batch["action"].dtype == torch.int64 and batch["size"].shape == (4,)


def test_render_matches_item_video() -> None:
    data = ShapesVideos(SMALL, size=3)
    frames = render(data.factors(2), 32, 8)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1
    expected = torch.from_numpy(frames).permute(3, 0, 1, 2) * 2 - 1
    assert (data[2]["video"] - expected).abs().max() < 1e-6


def test_labels_match_factors_and_stay_in_config_subsets() -> None:
    subsets = {
        "shape": ("square", "cross"),
        "color": ("cyan", "red"),
        "background": ("gradient",),
        "action": ("left", "orbit"),
    }
    config = ShapesConfig(
        resolution=16,
        frames=2,
        shapes=subsets["shape"],
        colors=subsets["color"],
        backgrounds=subsets["background"],
        actions=subsets["action"],
    )
    data = ShapesVideos(config, size=60)
    seen = {key: set() for key in FACTORS}
    for i in range(60):
        item, factors = data[i], data.factors(i)
        for key in FACTORS:
            name = label_names(key)[item[key]]
            assert name == getattr(factors, key)
            assert name in subsets[key]
            seen[key].add(name)
        for key in ("size", "speed", "phase", "x0", "y0"):
            assert item[key] == getattr(factors, key)
    assert seen == {key: set(values) for key, values in subsets.items()}


def test_combinations_are_sampled_uniformly() -> None:
    config = ShapesConfig(
        shapes=("circle", "cross"), colors=("red", "blue"), actions=("up", "pulse")
    )
    data = ShapesVideos(config, size=1200)
    combos = [tuple(getattr(data.factors(i), k) for k in FACTORS) for i in range(1200)]
    counts = {c: combos.count(c) for c in set(combos)}
    assert len(counts) == 2 * 2 * 3 * 2
    assert min(counts.values()) > 25 and max(counts.values()) < 75  # mean 50


def test_every_colour_contrasts_with_every_background() -> None:
    for background in BACKGROUNDS:
        image = background_image(background, 32)
        for name, color in COLORS.items():
            distance = np.linalg.norm(image - np.asarray(color), axis=-1)
            assert distance.min() > 0.6, (name, background)


def test_backgrounds_are_black_gray_and_a_vertical_gradient() -> None:
    assert (background_image("black", 16) == 0).all()
    assert (background_image("gray", 16) == 0.5).all()
    gradient = background_image("gradient", 16)
    assert (gradient == gradient[:, :1]).all()  # constant along each row
    top, bottom = gradient[0, 0], gradient[-1, 0]
    assert top[2] > top[0] and bottom[0] > bottom[2]  # dark blue above, brown below
    assert (np.diff(gradient[:, 0, 0]) > 0).all()  # red grows downwards


@pytest.mark.parametrize("ranges", ["default", "largest"])
def test_object_stays_inside_the_frame_and_visible(ranges: str) -> None:
    extremes = {"size_range": (0.18, 0.18), "speed_range": (0.5, 0.5)}
    config = ShapesConfig(
        resolution=32, frames=9, **extremes if ranges == "largest" else {}
    )
    data = ShapesVideos(config, size=150, seed=1)
    for i in range(150):
        alpha = recovered_coverage(data[i])
        assert alpha.sum((1, 2)).min() > 4  # visible in every frame
        border = np.concatenate(
            [alpha[:, 0], alpha[:, -1], alpha[:, :, 0], alpha[:, :, -1]], axis=1
        )
        assert not border.any(), data.factors(i)


def test_where_the_object_is_does_not_depend_on_the_action() -> None:
    """One draw of the continuous factors puts every action's path around the same
    midpoint (read back from the rendered frames), so position says nothing about
    the action: content and motion are independent, as the models assume."""
    config = ShapesConfig(resolution=32, frames=9, speed_range=(0.4, 0.4))
    midpoints = []
    for action in ACTIONS:
        factors = sample_factors(
            config,
            ("square", label_names("color")[0], "black", action),
            np.random.default_rng(3),
        )
        video = render_channels_first(factors, config.resolution, config.frames)
        item = {"video": torch.from_numpy(video * 2 - 1), "background": 0, "color": 0}
        path = centroids(recovered_coverage(item))
        midpoints.append(path[:-1].mean(0) if action == "orbit" else path.mean(0))
    np.testing.assert_allclose(midpoints, [midpoints[0]] * len(ACTIONS), atol=0.3)


@pytest.mark.parametrize(
    ("action", "direction"),
    [("right", (1, 0)), ("left", (-1, 0)), ("up", (0, -1)), ("down", (0, 1))],
)
def test_translations_move_the_centroid_the_right_way(
    action: str, direction: tuple[int, int]
) -> None:
    data = ShapesVideos(only(action), size=25)
    for i in range(25):
        item = data[i]
        path = centroids(recovered_coverage(item))
        moved = path[-1] - path[0]
        expected = np.asarray(direction) * item["speed"] * 32
        np.testing.assert_allclose(moved, expected, atol=0.5)
        steps = np.diff(path, axis=0) @ np.asarray(direction)
        assert (steps > 0).all()  # monotone, no jumps back


def test_orbit_goes_round_counter_clockwise_and_returns() -> None:
    frames = 17  # the last frame repeats the first after one turn
    data = ShapesVideos(only("orbit", resolution=64, frames=frames), size=15)
    for i in range(15):
        item = data[i]
        video = item["video"]
        assert (video[:, 0] - video[:, -1]).abs().max() < 1e-5
        path = centroids(recovered_coverage(item))[:-1]
        centre = path.mean(0)
        radii = np.linalg.norm(path - centre, axis=1)
        np.testing.assert_allclose(radii, item["speed"] / 2 * 64, atol=0.5)
        angles = np.unwrap(
            np.arctan2(-(path[:, 1] - centre[1]), path[:, 0] - centre[0])
        )
        np.testing.assert_allclose(
            np.diff(angles), 2 * math.pi / (frames - 1), atol=0.05
        )


def test_pulse_scales_the_area_with_the_path() -> None:
    data = ShapesVideos(only("pulse", resolution=64, frames=12), size=15)
    for i in range(15):
        factors = data.factors(i)
        area = recovered_coverage(data[i]).sum((1, 2))
        scale = factors.path.scale(np.linspace(0, 1, 12))
        assert area.max() > 1.8 * area.min()
        np.testing.assert_allclose(
            area / area.max(), (scale / scale.max()) ** 2, atol=0.06
        )


def test_pulse_stays_in_place() -> None:
    symmetric = ("circle", "square", "diamond", "cross")  # centroid = path centre
    data = ShapesVideos(only("pulse", shapes=symmetric), size=10)
    for i in range(10):
        path = centroids(recovered_coverage(data[i]))
        assert np.abs(path - path[0]).max() < 0.3


UNIT_SHAPES = {  # inside tests of the unit shapes (bounding box [-1, 1]^2, y down)
    "circle": lambda x, y: x**2 + y**2 <= 1,
    "square": lambda x, y: np.maximum(abs(x), abs(y)) <= 0.85,
    "triangle": lambda x, y: (y <= 1) & (2 * abs(x) - y <= 1),
    "diamond": lambda x, y: abs(x) + abs(y) <= 1,
    "cross": lambda x, y: (
        (np.minimum(abs(x), abs(y)) <= 0.35) & (np.maximum(abs(x), abs(y)) <= 1)
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_coverage_matches_supersampled_silhouette(shape: str) -> None:
    resolution, size, samples = 48, 0.3, 8
    path = ShapesPath(pivot=(0.52, 0.47))
    factors = ShapesFactors(
        shape, "red", "black", "pulse", size, 0.3, 0, 0.52, 0.47, path
    )
    alpha = coverage(factors, resolution, 1)[0]
    sub = (np.arange(resolution * samples) + 0.5) / (resolution * samples)
    x, y = np.meshgrid((sub - 0.52) / size, (sub - 0.47) / size)
    inside = UNIT_SHAPES[shape](x, y).astype(float)
    box = inside.reshape(resolution, samples, resolution, samples).mean((1, 3))
    assert np.abs(alpha - box).max() < 0.25  # a ramp, not an area, at corners
    assert alpha.sum() == pytest.approx(box.sum(), rel=0.01)


def test_edges_are_anti_aliased() -> None:
    data = ShapesVideos(SMALL, size=10)
    for i in range(10):
        alpha = coverage(data.factors(i), 32, 8)
        assert alpha.dtype == np.float32
        partial = (alpha > 0.05) & (alpha < 0.95)
        assert partial.sum() >= 8 * 6  # several edge pixels in every frame
        assert (alpha == 1).any() and (alpha == 0).any()


def test_holdout_combinations_never_reach_train_or_test() -> None:
    def held(factors: object) -> bool:
        return any(all(getattr(factors, k) == v for k, v in e.items()) for e in HOLDOUT)

    for split in ("train", "test"):
        data = ShapesVideos(size=1500, split=split, holdout=HOLDOUT)
        assert len(data.combinations) == 5 * 6 * 3 * 6 - 6 * 3 - 5
        assert not any(held(data.factors(i)) for i in range(1500))
    heldout = ShapesVideos(size=300, split="heldout", holdout=HOLDOUT)
    factors = [heldout.factors(i) for i in range(300)]
    assert all(held(f) for f in factors)
    assert {f.action for f in factors} == {"orbit", "left"}


def test_config_is_primitives_only() -> None:
    data = ShapesVideos(SMALL, size=7, seed=2, split="test", holdout=HOLDOUT)
    config = data.config
    assert json.loads(json.dumps(config)) == config
    assert config["dataset"] == DATASET == "shapes-v2"
    assert config["shapes"] == list(SHAPES) and config["actions"] == list(ACTIONS)
    assert (config["size"], config["seed"], config["split"]) == (7, 2, "test")
    assert config["holdout"] == HOLDOUT and config["resolution"] == 32


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shapes": ("hexagon",)}, r"shapes must be .*'circle'.*'hexagon'"),
        ({"colors": ()}, r"colors must be a non-empty"),
        ({"backgrounds": ("white",)}, r"backgrounds must be .*'gradient'"),
        ({"actions": ("jump",)}, r"actions must be .*'orbit'"),
        ({"actions": ("up", "up")}, r"actions must be .*distinct"),
        ({"resolution": 4}, r"resolution must be >= 8, got 4"),
        ({"frames": 0}, r"frames must be >= 1, got 0"),
        ({"size_range": (0.3, 0.2)}, r"size_range must be \(low, high\)"),
        ({"speed_range": (0.5, 1.5)}, r"speed_range must be \(low, high\)"),
        ({"size_range": (0.2, 0.3)}, r"size_range .* do not fit in the frame"),
    ],
)
def test_bad_config_is_rejected(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShapesConfig(**overrides)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "val"}, r"split must be one of \('train', 'test', 'heldout'\)"),
        ({"size": 0}, r"size must be >= 1"),
        ({"seed": -1}, r"seed must be >= 0"),
        ({"holdout": [{"texture": "x"}]}, r"unknown key 'texture'; keys are"),
        ({"holdout": [{"shape": "hexagon"}]}, r"unknown shape 'hexagon'.*'circle'"),
        ({"holdout": [{}]}, r"holdout entry 0 is empty"),
        ({"holdout": {"shape": "circle"}}, r"holdout must be a list of mappings"),
        (
            {"config": only("left"), "holdout": [{"action": "left"}]},
            r"removes every combination.*split 'train' would be empty",
        ),
        (
            {"config": only("left"), "split": "heldout", "holdout": [{"action": "up"}]},
            r"matches none.*split 'heldout' would be empty",
        ),
        ({"split": "heldout"}, r"split 'heldout' would be empty"),
    ],
)
def test_bad_dataset_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShapesVideos(**kwargs)


@pytest.mark.parametrize("index", [10, -1, 100])
def test_index_out_of_range(index: int) -> None:
    data = ShapesVideos(SMALL, size=10)
    with pytest.raises(IndexError, match=rf"index {index} out of range for size 10"):
        data[index]
    with pytest.raises(IndexError, match="size 10"):
        data.factors(index)


def test_label_names_and_combinations_reject_unknown_keys() -> None:
    assert label_names("color") == tuple(COLORS)
    with pytest.raises(ValueError, match=r"label key must be one of .*'texture'"):
        label_names("texture")
    with pytest.raises(ValueError, match="split must be one of"):
        combinations(SMALL, (), "validation")
