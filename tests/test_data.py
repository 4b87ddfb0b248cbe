"""Video I/O, the real-dataset loaders (on tiny files in each dataset's layout), the
decoded-clip cache, determinism for exact resume, and bad input."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vidlib.data import fixtures as fx
from vidlib.data.datasets import (
    RECIPES,
    SPRITES_ACTIONS,
    SPRITES_DIRECTIONS,
    WEIZMANN_ACTIONS,
    WEIZMANN_PERSONS,
    DatasetLayoutError,
    VideoDataset,
    open_dataset,
)
from vidlib.data.transforms import Preprocess
from vidlib.data.video import (
    ClipSampler,
    VideoReadError,
    read_frames,
    read_strip,
    read_video,
    write_gif,
    write_video,
)
from vidlib.train import StepBatchSampler


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("datasets")
    fx.write_sprites(base / "sprites", split="test")
    return {
        "weizmann": fx.write_weizmann(base / "weizmann"),
        "mug": fx.write_mug(base / "mug"),
        "uva-nemo": fx.write_uva_nemo(base / "uva"),
        "ucf101": fx.write_ucf101(base / "ucf"),
        "chair-cad": fx.write_chair_cad(base / "chairs"),
        "golf": fx.write_golf(base / "golf"),
        "sprites": fx.write_sprites(base / "sprites"),
        "folder": fx.write_folder(base / "folder"),
    }


def uint8(item: dict) -> np.ndarray:
    """Item video back to ``(T, H, W, 3)`` uint8."""
    video = ((item["video"] + 1) * 127.5).round().to(torch.uint8)
    return video.permute(1, 2, 3, 0).numpy()


# ---- video I/O ------------------------------------------------------------------


def test_lossless_mp4_round_trips_exactly_and_avi_closely(tmp_path: Path) -> None:
    video = fx.fixture_video(6, 24, 32, number=3)
    write_video(tmp_path / "a.mp4", video, lossless=True)
    write_video(tmp_path / "a.avi", video)
    assert np.array_equal(read_video(tmp_path / "a.mp4"), video)
    lossy = read_video(tmp_path / "a.avi")
    assert lossy.shape == video.shape
    assert np.abs(lossy.astype(int) - video).mean() < 4
    assert read_video(tmp_path / "a.mp4", max_frames=2).shape[0] == 2


def test_gif_and_strips(tmp_path: Path) -> None:
    video = fx.fixture_video(5, 16, 16)
    write_gif(tmp_path / "a.gif", video)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (16, 16)
    Image.fromarray(video.reshape(5 * 16, 16, 3)).save(tmp_path / "v.png")
    assert np.array_equal(read_strip(tmp_path / "v.png", "vertical"), video)
    horizontal = np.concatenate(list(video), axis=1)  # (16, 80, 3)
    Image.fromarray(horizontal).save(tmp_path / "h.png")
    assert np.array_equal(read_strip(tmp_path / "h.png", "horizontal"), video)
    Image.fromarray(video.reshape(80, 16, 3)[:70]).save(tmp_path / "bad.png")
    with pytest.raises(VideoReadError, match=r"bad\.png.*strip of square frames"):
        read_strip(tmp_path / "bad.png")


def test_clip_sampler_steps_starts_and_short_videos() -> None:
    sampler = ClipSampler(4, steps=(1, 2, 3, 4))
    seen = set()
    for i in range(200):
        clip = sampler(12, np.random.default_rng(i))
        steps = set(np.diff(clip))
        assert len(steps) == 1 and clip[0] >= 0 and clip[-1] < 12
        seen |= steps
    assert seen == {1, 2, 3}  # step 4 needs 13 frames
    assert ClipSampler(4, (2,), random_start=False)(
        20, np.random.default_rng(0)
    ).tolist() == [0, 2, 4, 6]
    with pytest.raises(ValueError, match="10 frames is shorter than a clip of 16"):
        ClipSampler(16)(10, np.random.default_rng(0))


def test_unreadable_truncated_and_mixed_size_inputs_name_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 50)
    write_video(tmp_path / "ok.mp4", fx.fixture_video(8, 16, 16))
    (tmp_path / "cut.mp4").write_bytes((tmp_path / "ok.mp4").read_bytes()[:200])
    for name in ("junk.mp4", "cut.mp4", "missing.mp4"):
        with pytest.raises(VideoReadError, match=name):
            read_video(tmp_path / name)
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "0.png")
    Image.new("RGB", (16, 12)).save(folder / "1.png")
    with pytest.raises(VideoReadError, match=r"1\.png: frame size 16x12 differs"):
        read_frames(folder)
    with pytest.raises(VideoReadError, match="no frames"):
        read_frames(tmp_path / "frames" / "..")  # a folder with no images in it


# ---- loaders --------------------------------------------------------------------


def test_open_dataset_knows_every_paper_dataset_and_rejects_others(roots: dict) -> None:
    assert set(RECIPES) == {
        "weizmann", "mug", "uva-nemo", "ucf101", "chair-cad", "golf", "sprites",
        "folder",
    }  # fmt: skip
    for name, root in roots.items():
        data = open_dataset(name, root, frames=8, resolution=16, progress=False)
        item = data[len(data) - 1]
        assert (
            item["video"].shape == (3, 8, 16, 16)
            and item["video"].dtype == torch.float32
        )
        assert item["video"].min() >= -1 and item["video"].max() <= 1
        assert item["index"] == len(data) - 1
        assert data.config["dataset"] == name
    with pytest.raises(ValueError, match=r"unknown dataset 'kth'.*weizmann.*folder"):
        open_dataset("kth", roots["golf"], frames=8, resolution=16)
    with pytest.raises(ValueError, match=r"unknown options \['fold'\]"):
        open_dataset("golf", roots["golf"], frames=8, resolution=16, fold=2)


def test_weizmann_labels_flip_and_action_exchange(roots: dict) -> None:
    data = open_dataset(
        "weizmann",
        roots["weizmann"],
        frames=8,
        resolution=16,
        steps=(1,),
        random_start=False,
    )
    files = sorted(roots["weizmann"].glob("*.avi"))
    assert len(data) == 2 * len(files) == 20  # lena's run1 and run2: 3 x 3 + 1 videos
    for i, path in enumerate(files):
        person, action = path.stem.split("_")
        labels = data.labels(i)
        assert WEIZMANN_PERSONS[labels["identity"]] == person
        assert (
            WEIZMANN_ACTIONS[labels["action"]] == action.rstrip("12")
            if action.startswith("run")
            else action
        )
        assert data.labels(i + len(files))["flipped"] == 1
    assert np.array_equal(uint8(data[len(files)]), uint8(data[0])[:, :, ::-1])
    held = [("daria", "bend"), ("lena", "run")]
    train = open_dataset(
        "weizmann",
        roots["weizmann"],
        frames=8,
        resolution=16,
        split="exchange-train",
        heldout_cells=held,
    )
    test = open_dataset(
        "weizmann",
        roots["weizmann"],
        frames=8,
        resolution=16,
        split="exchange-test",
        heldout_cells=held,
    )

    def cells(d: VideoDataset) -> set[tuple[int, int]]:
        return {(d.labels(i)["identity"], d.labels(i)["action"]) for i in range(len(d))}

    assert cells(test) == {(0, 0), (5, 4)} and not cells(train) & cells(test)
    assert len(train) + len(test) == len(
        files
    )  # no flip, no crop in the exchange split
    assert test.config["preprocess"]["crop"] == "none" and not test.flip


def test_centre_crop_and_short_side_crop_positions(roots: dict) -> None:
    # uva-nemo fixture: lossless 32x40 (HxW) mp4 -> the centred 32x32 square.
    data = open_dataset("uva-nemo", roots["uva-nemo"], frames=4, resolution=32)
    red = uint8(data[0])[0, 0, :, 0].astype(int)  # top row, away from the square
    expected = np.rint(255 * (np.arange(4, 36)) / 39)
    assert np.array_equal(red, expected)
    # ucf101 fixture 24x32: short side to 12 (-> 12x16), centre 12x12 (cols 2..13).
    ucf = open_dataset("ucf101", roots["ucf101"], frames=4, resolution=12)
    frame = uint8(ucf[0])[0].astype(int)
    reference = Preprocess((12, 12), "short_side")(fx.fixture_video(1, 24, 32))[0]
    assert np.abs(frame[0, :, 0] - reference[0, :, 0]).max() <= 12  # avi is lossy
    assert 20 < frame[0, 0, 0] < 60 and frame[0, 0, 0] + frame[
        0, -1, 0
    ] == pytest.approx(255, abs=12)
    assert frame[0, 5, 1] < 15 and frame[-1, 5, 1] > 240  # full height kept


def test_chair_cad_box_crop_and_first_sixteen_renders(roots: dict) -> None:
    data = open_dataset("chair-cad", roots["chair-cad"], frames=16, resolution=40)
    assert len(data) == 3 and [data.labels(i)["identity"] for i in range(3)] == [
        0,
        1,
        2,
    ]
    names = [Path(f).name for f in data.sources[0].files]
    assert (
        names == sorted(names)
        and len(names) == 16
        and all("_p020_" in n for n in names)
    )
    video = uint8(data[1])  # 60x60 renders, [10:50, 10:50] kept at 40x40
    assert video[0, 0, 0, 0] == round(255 * 10 / 59) and video[0, 0, -1, 0] == round(
        255 * 49 / 59
    )
    assert np.all(video[:, 0, :, 2] == 40)  # chair number 1 (top row: no square)
    assert (
        len(
            open_dataset(
                "chair-cad",
                roots["chair-cad"],
                frames=16,
                resolution=16,
                chairs=2,
                seed=3,
            )
        )
        == 2
    )
    with pytest.raises(ValueError, match="frames must be <= 16"):
        open_dataset("chair-cad", roots["chair-cad"], frames=17, resolution=16)


def test_mug_uva_ucf_golf_folder_labels(roots: dict) -> None:
    mug = open_dataset("mug", roots["mug"], frames=8, resolution=16)
    assert len(mug) == 4 and not any("nsg" in s.path for s in mug.sources)
    assert [(mug.labels(i)["identity"], mug.labels(i)["action"]) for i in range(4)] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    uva = open_dataset("uva-nemo", roots["uva-nemo"], frames=8, resolution=16)
    kinds = [(s.kind, s.labels["identity"], s.labels["action"]) for s in uva.sources]
    assert kinds == [("video", 0, 0), ("video", 0, 1), ("frames", 1, 1)]
    for split, group in (("train", 8), ("test", 1)):
        ucf = open_dataset(
            "ucf101", roots["ucf101"], frames=8, resolution=16, split=split
        )
        assert [
            (ucf.labels(i)["action"], ucf.labels(i)["group"]) for i in range(2)
        ] == [(0, group), (1, group)]
    golf = open_dataset(
        "golf", roots["golf"], frames=20, resolution=32, random_start=False
    )
    strip = uint8(golf[2]).astype(int)  # a jpg: lossy
    assert np.abs(strip - fx.fixture_video(20, 32, 32, 2)).mean() < 5
    assert np.abs(strip[:, 4, :, 2].mean() - 80) < 5  # blue = video number 2
    folder = open_dataset("folder", roots["folder"], frames=8, resolution=16)
    assert [s.labels["action"] for s in folder.sources] == [0, 0, 1]


def test_sprites_pixels_and_labels(roots: dict) -> None:
    data = open_dataset("sprites", roots["sprites"], frames=8, resolution=64)
    test = open_dataset(
        "sprites", roots["sprites"], frames=8, resolution=64, split="test"
    )
    assert len(data) == len(test) == 18
    folder = roots["sprites"] / "npy"
    for index in (0, 5, 17):
        action, character = divmod(index, 2)
        name = f"{SPRITES_ACTIONS[action // 3]}_{SPRITES_DIRECTIONS[action % 3]}"
        values = np.load(folder / f"{name}_attributes_train.npy")[character, 0].argmax(
            -1
        )
        item = data[index]
        assert item["action"] == action
        assert [item[k] for k in ("body", "bottom", "top", "hair")] == values.tolist()
        assert item["identity"] == int(np.ravel_multi_index(tuple(values), (6,) * 4))
        assert np.array_equal(
            uint8(item), fx.fixture_video(8, 64, 64, action + 9 * character)
        )


def test_temporal_steps_are_visible_in_the_clip(roots: dict) -> None:
    folder = open_dataset(
        "folder", roots["folder"], frames=5, resolution=32, steps=(3,)
    )
    clip = uint8(folder[1])  # the png frame folder: exact pixels
    assert np.diff(fx.square_position(clip)).tolist() == [3, 3, 3, 3]


# ---- determinism (exact resume) and the cache ------------------------------------


def test_items_are_pure_functions_of_seed_and_index(roots: dict) -> None:
    def make(seed: int) -> VideoDataset:
        root = roots["folder"]
        return open_dataset(
            "folder", root, frames=4, resolution=16, seed=seed, clips_per_video=4
        )

    first, second = make(0), make(0)
    torch.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002 - the global RNG must not matter
    expected = {i: first[i]["video"] for i in (11, 0, 5)}
    torch.manual_seed(2)
    np.random.seed(2)  # noqa: NPY002
    for i in (5, 11, 0):
        assert torch.equal(second[i]["video"], expected[i])
    starts = {tuple(fx.square_position(uint8(first[i]))) for i in range(0, 12, 3)}
    assert len(starts) > 1  # the 4 clips of one video differ
    assert any(
        not torch.equal(make(1)[i]["video"], first[i]["video"]) for i in range(12)
    )
    # A resumed run (new dataset, batch sampler restarted at step 3) sees the same data.
    batches = iter(StepBatchSampler(len(first), 4, seed=7, start=0))
    uninterrupted = [[first[i]["video"] for i in next(batches)] for _ in range(5)]
    resumed = iter(StepBatchSampler(len(second), 4, seed=7, start=3))
    for step in (3, 4):
        videos = [second[i]["video"] for i in next(resumed)]
        assert all(
            torch.equal(a, b) for a, b in zip(videos, uninterrupted[step], strict=True)
        )


def test_cache_gives_identical_items_is_keyed_and_stays_outside_root(
    roots: dict, tmp_path: Path
) -> None:
    args = {"frames": 6, "resolution": 16, "clips_per_video": 2}
    plain = open_dataset("weizmann", roots["weizmann"], **args)
    cached = open_dataset(
        "weizmann", roots["weizmann"], cache_dir=tmp_path, progress=False, **args
    )
    for i in range(len(plain)):
        assert torch.equal(cached[i]["video"], plain[i]["video"])
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 1 and built[0].startswith("weizmann-16x16-")
    open_dataset(
        "weizmann", roots["weizmann"], cache_dir=tmp_path, progress=False, **args
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == built  # reused, not rebuilt
    open_dataset(
        "weizmann",
        roots["weizmann"],
        cache_dir=tmp_path,
        progress=False,
        **args | {"resolution": 8},
    )
    assert len(list(tmp_path.iterdir())) == 2
    with pytest.raises(ValueError, match="inside the dataset root"):
        open_dataset(
            "golf",
            roots["golf"],
            frames=4,
            resolution=16,
            cache_dir=roots["golf"] / "cache",
        )


# ---- bad input ---------------------------------------------------------------------


def test_missing_root_and_wrong_layout_show_the_expected_layout(
    tmp_path: Path, roots: dict
) -> None:
    for name in RECIPES:
        with pytest.raises(
            DatasetLayoutError,
            match=f"(?s){name}: root .* is not a folder.*Expected layout",
        ):
            open_dataset(name, tmp_path / "nowhere", frames=4, resolution=16)
    write_video(tmp_path / "person_dance.avi", fx.fixture_video(4, 16, 16))
    with pytest.raises(
        DatasetLayoutError, match=r"(?s)person_dance\.avi.*<person>_<action>\.avi"
    ):
        open_dataset("weizmann", tmp_path, frames=4, resolution=16)
    with pytest.raises(
        DatasetLayoutError, match=r"(?s)missing .*classInd\.txt.*trainlist0"
    ):
        open_dataset("ucf101", roots["golf"], frames=4, resolution=16)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(
        DatasetLayoutError, match=r"(?s)class folder .*empty_class holds no videos"
    ):
        open_dataset("folder", tmp_path, frames=4, resolution=16)
    with pytest.raises(ValueError, match="split must be one of"):
        open_dataset("golf", roots["golf"], frames=4, resolution=16, split="test")


def test_bad_files_inside_a_dataset_are_warned_skipped_and_counted(
    tmp_path: Path,
) -> None:
    root = fx.write_folder(tmp_path / "videos")
    (root / "wave" / "broken.mp4").write_bytes(b"\x00" * 300)
    write_video(root / "wave" / "short.mp4", fx.fixture_video(3, 16, 16))
    mixed = root / "wave" / "mixed"
    mixed.mkdir()
    for t, width in enumerate((16, 16, 8, 16)):
        Image.new("RGB", (width, 16)).save(mixed / f"{t}.png")
    data = open_dataset("folder", root, frames=4, resolution=16, steps=(1,))
    assert len(data) == 6
    with pytest.warns(UserWarning) as caught:
        items = [data[i] for i in range(len(data))]  # no crash mid-epoch
    assert all(item["video"].shape == (3, 4, 16, 16) for item in items)
    messages = "\n".join(str(w.message) for w in caught)
    for name in (
        "broken.mp4",
        "short.mp4: video of 3 frames is shorter",
        "2.png: frame size 8x16",
    ):
        assert name in messages
    with pytest.warns(UserWarning, match="3 of 6 videos skipped"):
        bad = data.check(progress=False)
    assert sorted(Path(p).name for p in bad) == ["broken.mp4", "mixed", "short.mp4"]
    strict = open_dataset("folder", root, frames=4, resolution=16, on_bad="error")
    with pytest.raises(VideoReadError, match="broken.mp4"):
        [strict[i] for i in range(len(strict))]
    with pytest.warns(UserWarning) as caught:
        cached = open_dataset(
            "folder",
            root,
            frames=4,
            resolution=16,
            steps=(1,),
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    messages = "\n".join(str(w.message) for w in caught)
    assert "cache: 2 of 6 files skipped" in messages  # broken and mixed: undecodable
    assert "short.mp4: 3 frames, shorter than a clip (4 frames)" in messages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert all(
            torch.equal(cached[i]["video"], items[i]["video"]) for i in range(len(data))
        )
