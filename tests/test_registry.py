"""Registry: entries fit write_results, unavailable paths, reference rows react."""

import json

import pytest
import torch
from test_judges import SMOKE  # tests/ is on sys.path under pytest
from torch import nn

from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.judging import load_judges
from vidlib.metrics import registry
from vidlib.metrics.consistency import fcs
from vidlib.metrics.extractors import VGG16Relu33
from vidlib.metrics.frechet import frechet_distance
from vidlib.metrics.inception import inception_score
from vidlib.metrics.judges import cpu_threads
from vidlib.metrics.registry import evaluate, reference_rows, reference_videos
from vidlib.results import write_results


class RandomFrames(nn.Module):
    """Per-frame features like the appearance judge's ``frame_features``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2))

    @torch.no_grad()
    def frame_features(self, videos):  # (B, 3, T, H, W) -> (B, T, D)
        b = videos.shape[0]
        flat = self.net(videos.transpose(1, 2).flatten(0, 1)).flatten(1)
        return flat.reshape(b, -1, flat.shape[1])


class RandomJudges:
    """A stand-in with the Judges interface: fixed random conv nets (seeded)."""

    protocol = "judge_random_test"
    factors = ("color",)

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.clip = nn.Sequential(
            nn.Conv3d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool3d(1)
        )
        self.appearance = nn.ModuleDict({"color": RandomFrames()})
        self.head = nn.Linear(16, 6)

    @torch.no_grad()
    def features(self, videos):
        return self.clip(videos).flatten(1)

    def frame_features(self, frames):  # (N, 3, H, W) -> (N, D), as Judges
        return self.appearance["color"].frame_features(frames[:, :, None])[:, 0]

    @torch.no_grad()
    def action_logits(self, videos):
        return self.head(self.features(videos))

    def appearance_logits(self, videos):
        return {"color": self.action_logits(videos)}


@pytest.fixture(autouse=True)
def few_kernel_subsets(monkeypatch):
    monkeypatch.setattr(registry, "KD_SUBSETS", 10)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: a second thread only spins on the shared 2-core machine."""
    with cpu_threads(1):
        yield


@pytest.fixture(scope="module")
def shapes():
    config = ShapesConfig(resolution=16, frames=8)
    train, test = (
        ShapesVideos(config, split="train"),
        ShapesVideos(config, split="test"),
    )
    return (
        torch.stack([train[i]["video"] for i in range(64)]),
        torch.stack([test[i]["video"] for i in range(64)]),
    )


OFFLINE = [
    "fd_judge",
    "kd_judge",
    "is_judge_action",
    "hyx_judge_action",
    "hy_judge_color",
    "fcs_navs_ssim",
    "mcs_navs_pixels",
    "mcs_navs_judge",
    "acd_shapes_colour",
    "mfd_pixels",
]


def test_entries_fit_write_results_and_match_direct_computation(shapes, tmp_path):
    train, test = shapes
    judges = RandomJudges()
    names = [*OFFLINE, "fvd_i3d_64x8", "fid_resnext101_64x16", "mcs_navs_vgg16"]
    entries = evaluate(names, test, real=train, judges=judges, seed=3)
    assert "fd_judge_random_test" in entries and "kd_judge_random_test" in entries
    fd = entries["fd_judge_random_test"]
    assert fd["value"] == pytest.approx(
        frechet_distance(judges.features(test), judges.features(train)), rel=1e-9
    )
    assert fd["sqrtm_newton_schulz"] == pytest.approx(fd["value"], rel=1e-3)
    assert entries["fcs_navs_ssim"]["value"] == pytest.approx(fcs(test))
    for entry in entries.values():
        assert entry["n_fake"] == 64 and entry["n_real"] == 64 and entry["seed"] == 3
    for name in ("fvd_i3d_64x8_tpool1", "mcs_navs_vgg16"):  # 8 frames: window 1
        assert entries[name]["value"] is None
        assert "no weights file" in entries[name]["unavailable"]
    record = write_results(
        tmp_path, slug="t", profile="smoke", seed=3, params={}, metrics=entries
    )
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["metrics"]["fvd_i3d_64x8_tpool1"]["value"] is None
    assert record["metrics"]["mfd_pixels"]["protocol"].startswith("mfd")


@pytest.mark.parametrize(
    ("frames", "key", "window"),
    [
        (16, "fvd_i3d_4x16", 2),  # FVD's protocol: the name as asked
        (32, "fvd_i3d_4x32", 2),
        (12, "fvd_i3d_4x12_tpool2", 2),  # fewer than 16 frames: the window is named
        (6, "fvd_i3d_4x6_tpool1", 1),  # <= 8 frames: I3D's window shrinks to 1
    ],
)
def test_fvd_name_and_protocol_give_the_temporal_window_used(frames, key, window):
    clips = torch.zeros(4, 3, frames, 8, 8)
    entries = evaluate([f"fvd_i3d_4x{frames}"], clips, real=clips)
    assert list(entries) == [key]
    entry = entries[key]
    assert entry["i3d_temporal_window"] == window and entry["value"] is None
    assert f"last average pool {window}x7x7" in entry["protocol"]
    assert ("not comparable with published FVD" in entry["protocol"]) == (frames < 16)
    assert evaluate([key], clips, real=clips).keys() == {key}  # the full name too
    wrong = "fvd_i3d_4x6_tpool2" if frames == 6 else f"fvd_i3d_4x{frames}_tpool1"
    with pytest.raises(ValueError, match=f"use '{key}'"):
        evaluate([wrong], clips, real=clips)


def test_missing_weights_file_and_given_weights(shapes, tmp_path):
    train, test = shapes
    missing = evaluate(
        ["mcs_navs_vgg16"], test, real=train, weights={"vgg16": tmp_path / "no.pth"}
    )
    assert "not found" in missing["mcs_navs_vgg16"]["unavailable"]
    torch.manual_seed(0)
    torch.save(VGG16Relu33().state_dict(), tmp_path / "vgg.pth")
    given = evaluate(
        ["mcs_navs_vgg16"],
        test[:8],
        real=train[:8],
        weights={"vgg16": tmp_path / "vgg.pth"},
    )
    assert isinstance(given["mcs_navs_vgg16"]["value"], float)


def test_bad_names_and_missing_inputs(shapes):
    train, test = shapes
    with pytest.raises(ValueError, match="unknown metric 'fvd'"):
        evaluate(["fvd"], test, real=train)
    with pytest.raises(ValueError, match="pass real="):
        evaluate(["mcs_navs_pixels"], test)
    with pytest.raises(ValueError, match="needs judges"):
        evaluate(["fd_judge"], test, real=train)
    with pytest.raises(ValueError, match="use 'fd_judge_random_test'"):
        evaluate(["fd_judge_other"], test, real=train, judges=RandomJudges())
    with pytest.raises(ValueError, match="needs 2048 generated clips of 16 frames"):
        evaluate(["fvd_i3d_2048x16"], test, real=train)
    with pytest.raises(ValueError, match="judged factors"):
        evaluate(["is_judge_shape"], test, judges=RandomJudges())


def test_inception_score_entry_gives_its_splits_and_a_std_only_for_several(
    shapes, monkeypatch
):
    """One split (TGAN/TGANv2/MoCoGAN): the entry says so and has no std (a single
    score has none, not 0); with several splits the std over them is reported."""
    _, test = shapes
    judges = RandomJudges()
    probs = judges.action_logits(test).double().softmax(dim=1)
    one = evaluate(["is_judge_action"], test, judges=judges)["is_judge_action"]
    assert registry.IS_SPLITS == 1
    assert one["splits"] == 1 and "std" not in one and "1 split(s)" in one["protocol"]
    assert one["value"] == pytest.approx(inception_score(probs, 1)[0], rel=1e-9)
    monkeypatch.setattr(registry, "IS_SPLITS", 4)
    four = evaluate(["is_judge_action"], test, judges=judges)["is_judge_action"]
    mean, std = inception_score(probs, 4)
    assert four["splits"] == 4 and "4 split(s)" in four["protocol"]
    assert four["value"] == pytest.approx(mean, rel=1e-9)
    assert four["std"] == pytest.approx(std, rel=1e-9) and std > 0


def test_reference_rows_react_to_their_failures(shapes):
    train, test = shapes
    rows = reference_rows(train, test, OFFLINE, RandomJudges(), seed=0)
    assert set(rows) == {"real_vs_real", "static", "shuffled", "noise"}

    def value(row, name):
        return rows[row][name]["value"]

    for name in ("fd_judge_random_test", "kd_judge_random_test"):
        assert value("real_vs_real", name) < value("noise", name)  # random features
    assert value("static", "fcs_navs_ssim") == pytest.approx(1.0, abs=1e-6)
    assert value("noise", "fcs_navs_ssim") < value("real_vs_real", "fcs_navs_ssim")
    assert value("static", "mfd_pixels") == 0.0
    assert value("real_vs_real", "acd_shapes_colour") < value(
        "noise", "acd_shapes_colour"
    )
    videos = reference_videos(test, seed=0)
    assert torch.equal(videos["static"][:, :, 3], test[:, :, 0])
    assert videos["noise"].abs().max() <= 1


# SMOKE: the judges' smoke config, also the metrics notebook's smoke defaults (its
# judges, 100 steps, are cached under _runs/judges after the first run).


def test_reference_rows_order_with_trained_judges():
    judges = load_judges(SMOKE, steps=100, progress=False)
    train = torch.stack(
        [v["video"] for v in ShapesVideos(SMOKE, size=48, split="train")]
    )
    test = torch.stack([v["video"] for v in ShapesVideos(SMOKE, size=48, split="test")])
    rows = reference_rows(
        train, test, ["fd_judge", "kd_judge", "is_judge_action"], judges
    )
    for name in (f"fd_{judges.protocol}", f"kd_{judges.protocol}"):
        values = {row: rows[row][name]["value"] for row in rows}
        assert values["real_vs_real"] < values["shuffled"] < values["noise"], values
        assert values["real_vs_real"] < values["static"], values
    is_action = {row: rows[row]["is_judge_action"]["value"] for row in rows}
    assert is_action["real_vs_real"] > max(is_action["static"], is_action["noise"])


def test_is_judge_alone_scores_the_action_and_every_judged_factor(shapes) -> None:
    _, test = shapes
    judges = RandomJudges()
    entries = evaluate(["is_judge"], test, judges=judges)
    assert sorted(entries) == ["is_judge_action", "is_judge_color"]
    alone = evaluate(["is_judge_color"], test, judges=judges)["is_judge_color"]
    assert entries["is_judge_color"]["value"] == alone["value"]
    with pytest.raises(ValueError, match="'is_judge' needs judges"):
        evaluate(["is_judge"], test)


def test_entries_say_which_direction_is_better(shapes) -> None:
    train, test = shapes
    names = ["fd_judge", "kd_judge", "is_judge_action", "hyx_judge_action"]
    names += ["hy_judge_action", "fcs_navs_ssim", "mfd_pixels"]
    judges = RandomJudges()
    entries = evaluate(names, test, real=train, judges=judges)
    better = {
        name.replace(judges.protocol, "judge"): e.get("better")
        for name, e in entries.items()
    }
    assert better == {
        "fd_judge": "lower",
        "kd_judge": "lower",
        "is_judge_action": "higher",
        "hyx_judge_action": "lower",
        "hy_judge_action": "higher",
        "fcs_navs_ssim": "higher",
        "mfd_pixels": None,  # neither: near the real clips' is best
    }
