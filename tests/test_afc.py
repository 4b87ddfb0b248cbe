"""Human 2AFC pages and their tally (``vidlib.afc``), the Wilson interval and the
judges' automatic 2AFC (``vidlib.metrics.preference``)."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_judges import SMOKE, SMOKE_STEPS
from vidlib import afc
from vidlib.afc import AFCInputError, tally, write_afc_page
from vidlib.data.shapes import ShapesVideos
from vidlib.judging import load_judges
from vidlib.metrics.judges import Judges
from vidlib.metrics.motion import static_videos
from vidlib.metrics.preference import (
    judge_preference,
    preference,
    results_entry,
    wilson_interval,
)
from vidlib.results import write_results

NAMES = ("RunAlpha", "RunBeta")


def samples(n: int, seed: int, frames: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, frames, 8, 8, generator=torch.Generator().manual_seed(seed))


def page(folder: Path, n: int = 6, seed: int = 0, **kwargs: object) -> dict:
    return write_afc_page(
        samples(n, 1) * 2 - 1, samples(n, 2) * 2 - 1, folder, seed=seed,
        names=NAMES, **kwargs,
    )  # fmt: skip


def answers_file(folder: Path, page_id: str, answers: dict, worker: str) -> Path:
    path = folder / f"answers-{worker}.json"
    data = {"format": afc.ANSWERS_FORMAT, "page_id": page_id, "worker": worker}
    path.write_text(json.dumps(data | {"answers": answers}))
    return path


# --- the page ---------------------------------------------------------------------


def test_left_and_right_are_balanced_and_fixed_by_the_seed() -> None:
    left = afc.left_is_a(20000, seed=0)
    assert abs(left.mean() - 0.5) < 0.015  # 4.2 standard errors
    runs = np.diff(left.astype(int)) != 0  # independent tasks: a switch half the time
    assert abs(runs.mean() - 0.5) < 0.015
    assert (afc.left_is_a(50, 3) == afc.left_is_a(50, 3)).all()
    assert (afc.left_is_a(50, 3) != afc.left_is_a(50, 4)).any()


def test_the_same_seed_writes_the_same_page_and_key(tmp_path: Path) -> None:
    first, again = page(tmp_path / "a", seed=7), page(tmp_path / "b", seed=7)
    other = page(tmp_path / "c", seed=8)
    assert first == again
    assert (tmp_path / "a" / afc.PAGE).read_bytes() == (
        tmp_path / "b" / afc.PAGE
    ).read_bytes()
    assert first["tasks"] != other["tasks"] and first["page_id"] != other["page_id"]


def test_the_key_says_which_run_each_side_shows(tmp_path: Path) -> None:
    """Decode the page's images: task i's left image is a[i] where the key says so."""
    a, b = samples(8, 1) * 2 - 1, samples(8, 2) * 2 - 1
    key = write_afc_page(a, b, tmp_path, seed=3, names=NAMES)
    html = (tmp_path / afc.PAGE).read_text()
    for i, task in enumerate(afc.task_ids(8)):
        block = re.search(f'id="{task}".*?</div>', html, re.S).group(0)
        shown = [base64.b64decode(s) for s in re.findall(r"base64,([^\"]+)", block)]
        expected = {
            n: afc._media(v, "gif")[1] for n, v in zip(NAMES, (a[i], b[i]), strict=True)
        }
        assert shown == [expected[key["tasks"][task][side]] for side in afc.CHOICES]


def test_the_page_is_offline_and_does_not_hold_the_key(tmp_path: Path) -> None:
    key = page(tmp_path, n=4, display="strip")
    html = (tmp_path / afc.PAGE).read_text()
    text = re.sub(r'"data:image/(gif|png);base64,[A-Za-z0-9+/=]+"', '""', html)
    assert not re.search(r"https?:|//[a-z]|<link|@import|url\(|fetch\(|XMLHttp", text)
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert len(sources) == 8 and all(s.startswith("data:image/") for s in sources)
    assert afc.KEY not in html
    assert not any(name in html for name in NAMES)
    assert f'content="{key["page_id"]}"' in html
    assert json.loads((tmp_path / afc.KEY).read_text())["page_id"] == key["page_id"]


def test_images_are_pages_of_single_frames(tmp_path: Path) -> None:
    images = samples(3, 5, frames=1)[:, :, 0] * 2 - 1  # (N, C, H, W)
    write_afc_page(images, -images, tmp_path, seed=0)
    html = (tmp_path / afc.PAGE).read_text()
    assert html.count("data:image/png;base64,") == 6


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_download_button_writes_an_answers_file_tally_reads(
    tmp_path: Path,
) -> None:
    """Run the page's script in node with a stub DOM: tick left on every task but
    the last, press the button, tally the file it would download."""
    key = page(tmp_path, n=5)
    script = re.search(
        r"<script>(.*)</script>", (tmp_path / afc.PAGE).read_text(), re.S
    )
    stub = """
    const checked = {TICKED};
    const saved = {};
    const elements = {worker: {value: " "}, status: {}, download: {}};
    globalThis.document = {
      getElementById: (id) => elements[id],
      querySelector: (q) => {
        const id = q.match(/name="([^"]+)"/)[1];
        return checked.includes(id) ? {value: "left"} : null;
      },
      createElement: () => ({click() { saved.name = this.download; }, remove() {}}),
      body: {appendChild() {}},
    };
    globalThis.confirm = () => true;
    globalThis.Blob = class { constructor(parts) { saved.text = parts.join(""); } };
    globalThis.URL = {createObjectURL: () => "blob:local"};
    """.replace("{TICKED}", json.dumps(afc.task_ids(4)))
    run = (
        stub
        + script.group(1)
        + ("\nelements.download.onclick();\nconsole.log(JSON.stringify(saved));")
    )
    out = subprocess.run(
        ["node", "-e", run], capture_output=True, text=True, check=True, timeout=60
    )
    saved = json.loads(out.stdout)
    assert re.fullmatch(
        f"answers-{key['page_id']}-anon-[0-9a-f]{{8}}\\.json", saved["name"]
    )
    path = tmp_path / saved["name"]
    path.write_text(saved["text"])
    result = tally([path], tmp_path / afc.KEY)
    left = [key["tasks"][t]["left"] for t in afc.task_ids(4)]
    assert result["counts"] == {n: left.count(n) for n in NAMES}
    assert result["n"] == 4 and result["tasks"] == 5


# --- the tally --------------------------------------------------------------------

HAND_KEY = {
    "format": afc.KEY_FORMAT,
    "page_id": "feedc0de00000000",
    "names": ["RJGAN", "MoCoGAN"],
    "tasks": {
        "task-000": {"left": "RJGAN", "right": "MoCoGAN"},
        "task-001": {"left": "MoCoGAN", "right": "RJGAN"},
        "task-002": {"left": "RJGAN", "right": "MoCoGAN"},
    },
}


def hand_made(folder: Path) -> tuple[list[Path], Path]:
    """Worker 1: RJGAN, RJGAN, MoCoGAN; worker 2: MoCoGAN, RJGAN (task-002 unanswered);
    worker 3: RJGAN, RJGAN, RJGAN. RJGAN 6 of 8 choices."""
    key = folder / "key.json"
    key.write_text(json.dumps(HAND_KEY))
    page_id = HAND_KEY["page_id"]
    files = [
        answers_file(
            folder, page_id, {"task-000": "left", "task-001": "right",
                              "task-002": "right"}, "w1"
        ),
        answers_file(folder, page_id, {"task-000": "right", "task-001": "right"}, "w2"),
        answers_file(
            folder, page_id, {"task-000": "left", "task-001": "right",
                              "task-002": "left"}, "w3"
        ),
    ]  # fmt: skip
    return files, key


def test_tally_counts_every_worker_choice_exactly(tmp_path: Path) -> None:
    files, key = hand_made(tmp_path)
    result = tally(files, key)
    assert result["counts"] == {"RJGAN": 6, "MoCoGAN": 2}
    assert type(result["counts"]["RJGAN"]) is int
    assert result["n"] == 8 and result["workers"] == 3 and result["tasks"] == 3
    assert result["share"] == {"RJGAN": 0.75, "MoCoGAN": 0.25}
    low, high = wilson_interval(6, 8)
    assert result["ci"]["RJGAN"] == [low, high]
    assert result["ci"]["MoCoGAN"] == pytest.approx([1 - high, 1 - low])
    assert tally(files[1], key)["counts"] == {"RJGAN": 1, "MoCoGAN": 1}


def test_the_cli_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    files, key = hand_made(tmp_path)
    assert afc.main(["tally", *map(str, files), "--key", str(key)]) == 0
    out = capsys.readouterr().out
    assert "3 worker(s), 3 tasks, 8 choices" in out
    assert re.search(r"RJGAN +6 +0\.750 +\[0\.409, 0\.929\]", out), out
    assert "Wilson" in out


def test_the_cli_writes_a_page_from_tensor_files(tmp_path: Path) -> None:
    torch.save(samples(3, 1) * 2 - 1, tmp_path / "a.pt")
    torch.save(samples(3, 2) * 2 - 1, tmp_path / "b.pt")
    argv = ["page", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), str(tmp_path / "p")]
    assert afc.main([*argv, "--seed", "1", "--names", "x", "y"]) == 0
    assert json.loads((tmp_path / "p" / afc.KEY).read_text())["names"] == ["x", "y"]


# --- the interval -----------------------------------------------------------------

CASES = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (64, 128), (83, 128), (591, 640)]


@pytest.mark.parametrize(("k", "n"), CASES)
def test_wilson_matches_scipy(k: int, n: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(3, 10), (6.5, 13), (64, 128), (0, 5)])
def test_wilson_is_the_inverted_score_test(k: float, n: int) -> None:
    """Brute force, no closed form: the proportions p on a fine grid whose score
    test |k/n - p| <= z sqrt(p (1 - p) / n) does not reject span the interval."""
    z = 1.959963984540054
    grid = np.linspace(0, 1, 2_000_001)
    kept = grid[np.abs(k / n - grid) <= z * np.sqrt(grid * (1 - grid) / n)]
    assert wilson_interval(k, n) == pytest.approx((kept.min(), kept.max()), abs=1e-6)


def test_preference_splits_ties_and_mirrors_the_interval() -> None:
    entry = preference(3, 1, ties=2, names=("a", "b"))
    assert entry["share"] == {"a": 4 / 6, "b": 2 / 6}
    assert entry["counts"] == {"a": 3, "b": 1} and entry["ties"] == 2
    low, high = wilson_interval(4, 6)
    assert entry["ci"]["a"] == [low, high]
    assert entry["ci"]["b"] == pytest.approx([1 - high, 1 - low])
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)


# --- the judges' 2AFC -------------------------------------------------------------


class ConfidenceJudges:
    """Action logits read off the clip: the first pixel is the first logit."""

    protocol = "stub"

    def action_logits(self, videos: torch.Tensor) -> torch.Tensor:
        first = videos[:, 0, 0, 0, 0]
        return torch.stack([first, torch.zeros_like(first)], dim=1)


def test_the_more_confident_clip_wins_and_ties_split() -> None:
    def clips(logits: list[float]) -> torch.Tensor:
        return torch.tensor(logits)[:, None, None, None, None].expand(-1, 3, 2, 4, 4)

    # confidence max(softmax): |logit| decides; pair 3 ties (+2 vs -2), pair 4 too
    a, b = clips([5.0, 0.0, 1.0, 2.0, 0.5]), clips([1.0, 3.0, 0.5, -2.0, 0.5])
    entry = judge_preference(a, b, ConfidenceJudges(), names=("x", "y"))
    assert entry["counts"] == {"x": 2, "y": 1} and entry["ties"] == 2
    assert entry["value"] == entry["share"]["x"] == 3 / 5
    assert entry["rater"] == "judge" and "not a human score" in entry["protocol"]


@pytest.fixture(scope="module")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Judges:
    """Judges of tests/test_judges.py's smoke config (they train in ~10 s)."""
    cache = tmp_path_factory.mktemp("judges")
    return load_judges(SMOKE, cache_dir=cache, steps=SMOKE_STEPS, progress=False)


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    data = ShapesVideos(SMOKE, size=64, seed=5, split="test")
    return torch.stack([data[i]["video"] for i in range(64)])


def test_judges_prefer_real_clips_to_static_and_noise_clips(
    judges: Judges, real: torch.Tensor
) -> None:
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for other in (static_videos(real), noise):
        entry = judge_preference(real, other, judges, names=("real", "other"))
        assert entry["value"] >= 0.9 and entry["ci"]["real"][0] > 0.5, entry


def test_identical_sets_tie_at_one_half(judges: Judges, real: torch.Tensor) -> None:
    entry = judge_preference(real, real.clone(), judges, names=("a", "b"))
    assert entry["ties"] == 64 and entry["value"] == 0.5
    assert entry["ci"]["a"][0] < 0.5 < entry["ci"]["a"][1]
    assert math.isclose(sum(entry["share"].values()), 1.0)


# --- bad inputs -------------------------------------------------------------------


def test_mismatched_answers_are_refused_naming_the_file(tmp_path: Path) -> None:
    files, key = hand_made(tmp_path)
    page_id = HAND_KEY["page_id"]
    bad = {
        "other page": (
            answers_file(tmp_path, "0123456789abcdef", {"task-000": "left"}, "x"),
            r"answers-x\.json answers page '0123456789abcdef', but .*key\.json is the "
            r"key of page 'feedc0de00000000'",
        ),
        "unknown task": (
            answers_file(tmp_path, page_id, {"task-007": "left"}, "y"),
            r"answers-y\.json: task 'task-007' is not in .*key\.json \(its tasks are "
            r"task-000 to task-002\)",
        ),
        "bad choice": (
            answers_file(tmp_path, page_id, {"task-001": "middle"}, "z"),
            r"answers-z\.json: task 'task-001' has choice 'middle'; expected 'left' "
            r"or 'right'",
        ),
        "nothing answered": (
            answers_file(tmp_path, page_id, {}, "v"),
            r"answers-v\.json holds no answers",
        ),
    }
    for path, message in bad.values():
        with pytest.raises(AFCInputError, match=message):
            tally([files[0], path], key)
    with pytest.raises(AFCInputError, match=r"both answers of worker 'w1'"):
        (tmp_path / "again").mkdir()
        again = answers_file(tmp_path / "again", page_id, {"task-000": "left"}, "w1")
        tally([files[0], again], key)
    with pytest.raises(AFCInputError, match="given twice"):
        tally([files[0], files[0]], key)
    with pytest.raises(AFCInputError, match="no answers files given"):
        tally([], key)
    with pytest.raises(
        AFCInputError, match=r"answers-w1\.json is not a 2AFC answer key"
    ):
        tally(files, files[0])
    key.write_text("{not json")
    with pytest.raises(AFCInputError, match=r"key\.json is not valid JSON"):
        tally(files, key)


def test_bad_samples_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    a = samples(4, 1)
    cases = {
        r"samples of B are empty \(N = 0\); expected N >= 1": (a, a[:0]),
        r"RunAlpha has 4 samples, RunBeta has 3; expected the same N": (a, a[:3]),
        r"samples of A have shape \(4, 3, 8\); expected videos": (a[:, :, 0, 0], a),
    }
    for message, (x, y) in cases.items():
        names = NAMES if "Run" in message else ("A", "B")
        with pytest.raises(AFCInputError, match=message):
            write_afc_page(x, y, tmp_path / "page", seed=0, names=names)
    assert not (tmp_path / "page").exists()


def test_an_existing_page_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    key = page(tmp_path, seed=0)
    written = (tmp_path / afc.KEY).read_bytes()
    with pytest.raises(
        AFCInputError, match=r"key\.json exists: .* nothing was written"
    ):
        page(tmp_path, seed=1)
    assert (tmp_path / afc.KEY).read_bytes() == written
    assert page(tmp_path, seed=1, overwrite=True)["tasks"] != key["tasks"]


def test_the_cli_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    files, key = hand_made(tmp_path)
    (tmp_path / "a.pt").write_bytes(b"not a tensor")
    for argv in (
        ["tally", str(files[0]), "--key", str(files[0])],
        ["page", str(tmp_path / "a.pt"), str(tmp_path / "a.pt"), str(tmp_path / "p")]
        + ["--seed", "0"],
    ):
        assert afc.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(r"a\.pt cannot be read as a tensor file: torch\.save", err), err


def test_a_judge_preference_entry_fits_a_results_file(tmp_path) -> None:
    entry = {**preference(3, 1, 2, ("RJGAN", "MoCoGAN")), "protocol": "p", "value": 0.0}
    flat = results_entry(entry)
    assert flat["value"] == pytest.approx(4 / 6)  # ties count half
    assert (flat["first"], flat["wins_first"], flat["wins_second"]) == ("RJGAN", 3, 1)
    assert (flat["ci_low"], flat["ci_high"]) == tuple(entry["ci"]["RJGAN"])
    write_results(
        tmp_path,
        slug="x",
        profile="smoke",
        seed=0,
        record={},
        metrics={"judge_2afc": flat},
    )
