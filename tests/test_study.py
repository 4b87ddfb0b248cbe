"""Recipe studies: every checkpoint judged into its own results file, equal to a run
trained to that step; resumable; the table reads the bar from the files; bad input
named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_method import MODELS, tiny_record

from vidlib import study
from vidlib.data.shapes import DATASET
from vidlib.experiment import run_experiment
from vidlib.record import parse_record
from vidlib.results import seal_results
from vidlib.study import (
    changed_settings,
    judge_checkpoints,
    read_studies,
    run_study,
    series_lines,
    study_dir,
    study_record,
    study_rows,
    study_series,
    study_table,
)


def cpu_record() -> dict:
    record = tiny_record("mocogan")
    record["train"] = {**record["train"], "steps": 2}
    return record


@pytest.fixture(scope="module")
def studied(tmp_path_factory) -> Path:
    """A repository root whose mocogan cpu record was studied for 4 steps."""
    root = tmp_path_factory.mktemp("study") / "repo"
    params = root / "notebooks" / "params"
    params.mkdir(parents=True)
    (params / "mocogan.cpu.yaml").write_text(yaml.safe_dump(cpu_record()))
    overrides = {"train.steps": 4, "model.lr_g": 0.001}
    run_study("mocogan", "fast_g", overrides, 2, root=root)
    return root


def test_one_results_file_per_checkpoint_with_its_step(studied: Path) -> None:
    folder = study_dir("mocogan", "fast_g", studied)
    assert sorted(p.name for p in folder.iterdir()) == ["step-000002", "step-000004"]
    results = read_studies("mocogan", studied)
    assert [r["record"]["train"]["steps"] for r in results] == [2, 4]
    first = results[0]
    assert first["profile"] == "study" and first["record"]["model"]["lr_g"] == 0.001
    assert first["params"]["command"] == (
        "python -m vidlib.study mocogan fast_g --every 2 -p train.steps 4 "
        "-p model.lr_g 0.001"
    )
    assert {"git_sha", "versions"} <= set(first)
    assert first["params"]["dataset"] == DATASET  # what the studied videos were


def test_a_checkpoint_is_judged_as_a_run_of_that_length(
    studied: Path, tmp_path: Path
) -> None:
    record = cpu_record()
    record["model"] = {**record["model"], "lr_g": 0.001}
    record["train"] = {**record["train"], "steps": 2}
    direct = run_experiment(record, tmp_path)
    studied_step = read_studies("mocogan", studied)[0]["metrics"]
    for name in ("mfd_fake", "mfd_real"):
        assert studied_step[name]["value"] == pytest.approx(
            direct.metrics[name]["value"], rel=1e-6
        )


def test_judged_checkpoints_are_not_judged_again(studied: Path) -> None:
    folder = study_dir("mocogan", "fast_g", studied)
    before = {p: p.stat().st_mtime_ns for p in folder.glob("*/results.json")}
    run_study(
        "mocogan", "fast_g", {"train.steps": 4, "model.lr_g": 0.001}, 2, root=studied
    )
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/results.json")} == before


def test_checkpoints_of_other_settings_are_refused(studied: Path) -> None:
    checkpoints = studied / "_runs" / "study" / "mocogan" / "fast_g" / "train"
    with pytest.raises(ValueError, match="trained with other settings than study"):
        judge_checkpoints(
            "mocogan",
            "other",
            {"train.steps": 4, "model.lr_g": 0.002},
            2,
            checkpoints / "checkpoints",
            studied,
        )


def test_every_must_divide_the_steps(studied: Path) -> None:
    with pytest.raises(ValueError, match=r"--every must divide train.steps \(4\)"):
        run_study("mocogan", "x", {"train.steps": 4}, 3, root=studied)


def test_changed_settings_leave_out_scheduling() -> None:
    base = parse_record(cpu_record())
    changed = cpu_record()
    changed["model"] = {**changed["model"], "lr_g": 0.001}
    changed["train"] = {**changed["train"], "steps": 99, "checkpoint_every": 3}
    assert changed_settings(changed, base) == "model.lr_g=0.001"
    assert changed_settings(cpu_record(), base) == "-"


def residual_root(root: Path, **sections: object) -> Path:
    """A repository root whose residual cpu record is a small RJGAN one, with the
    params file's other sections ``sections``."""
    params = root / "notebooks" / "params"
    params.mkdir(parents=True, exist_ok=True)
    record = {
        "data": {"resolution": 16, "frames": 8},
        "model": {"name": "rjgan", "lr_g": 1e-3, "beta1": 0.0, "dim_z": 12},
        "train": {"steps": 4, "batch_size": 2},
    }
    (params / "residual.cpu.yaml").write_text(yaml.safe_dump(record | sections))
    return root


def test_a_study_of_another_model_starts_from_its_record_in_the_chapter(
    tmp_path: Path,
) -> None:
    """``-p model.name``: the chapter's other model as the chapter builds it, the
    settings both models' configs share kept, its params section applied."""
    root = residual_root(tmp_path, rmocogan={"dim_z_motion": 3}, rjvae={"hidden": 5})
    rmocogan = study_record("residual", {"model.name": "rmocogan"}, 2, root)
    assert rmocogan.model["name"] == "rmocogan"
    assert (rmocogan.model["lr_g"], rmocogan.model["beta1"]) == (1e-3, 0.0)
    assert rmocogan.model["dim_z_motion"] == 3 and "dim_z" not in rmocogan.model
    assert rmocogan.train["checkpoint_every"] == 2
    rjvae = study_record("residual", {"model": {"name": "rjvae", "dim_z": 7}}, 2, root)
    assert (rjvae.model["hidden"], rjvae.model["dim_z"]) == (5, 7)
    assert rjvae.model["beta1"] != 0.0  # RJVAE's own default: no shared class
    rjgan = study_record("residual", {"model.lr_g": 0.5}, 2, root)
    assert (rjgan.model["name"], rjgan.model["dim_z"]) == ("rjgan", 12)
    residual_root(tmp_path, rjvae=3)
    with pytest.raises(ValueError, match=r"residual.cpu.yaml: rjvae must be a mapping"):
        study_record("residual", {"model.name": "rjvae"}, 2, root)


def metric(value: float) -> dict:
    return {"value": value, "protocol": "p"}


def test_rows_give_the_distance_as_a_multiple_of_the_floor_and_mark_the_bar() -> None:
    base = parse_record(cpu_record())
    metrics = {
        "fd_judge_x": metric(120.0),
        "fd_judge_x_train_vs_test_real": metric(40.0),  # 3× the floor: met
        "is_judge_action": metric(1.5),
        "is_judge_action_real": metric(3.0),  # 0.5: missed
        "appearance_kept_judge_x": metric(0.9),
        "action_kept_judge_x": metric(0.1),
    }
    params = {"study": "s", "dataset": "shapes-v1"}
    entry = {"record": cpu_record(), "params": params, "metrics": metrics}
    header, rows = study_rows([entry], base)
    assert header[:5] == [
        "study",
        "changed from the cpu record",
        "data",
        "step",
        "distance ÷ floor",
    ]
    assert header[5:] == ["IS action ÷ real", "appearance kept", "action kept"]
    assert rows == [["s", "-", "shapes-v1", 2, "3 ✓", "0.5", "0.9 ✓", "0.1"]]


def test_table_says_which_rows_were_made_on_older_data(studied: Path) -> None:
    current = study_table("mocogan", studied).data
    assert "earlier version of the data" not in current
    folder = study_dir("mocogan", "fast_g", studied) / "step-000002"
    results = json.loads((folder / "results.json").read_text())
    results["params"]["dataset"] = "shapes-v0"
    seal_results(folder / "results.json", results)  # as a run on older data wrote it
    try:
        table = study_table("mocogan", studied).data
    finally:
        results["params"]["dataset"] = DATASET
        seal_results(folder / "results.json", results)
    assert ">shapes-v0</td>" in table and f">{DATASET}</td>" in table
    assert "Rows on shapes-v0 were trained on an earlier version" in table


def test_table_shows_the_studies_of_one_model(studied: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(studied, root)
    params = root / "notebooks" / "params" / "mocogan.cpu.yaml"
    params.write_text(yaml.safe_dump(cpu_record() | {"g3an": MODELS["g3an"]}))
    assert ">fast_g</td>" in study_table("mocogan", root).data
    other = study_table("mocogan", root, model="g3an").data
    assert other == "<p>mocogan has no committed recipe study of g3an.</p>"


def test_table_of_a_chapter_without_studies(tmp_path: Path) -> None:
    assert "no committed recipe study" in study_table("mocogan", tmp_path).data


def test_committed_study_files_name_their_command_and_data() -> None:
    slugs = ("mocogan", "g3an", "tgan", "vgan", "avlae", "residual")
    for results in [r for slug in slugs for r in read_studies(slug)]:
        assert results["params"]["command"].startswith("python -m vidlib.study ")
        assert results["params"]["dataset"].startswith("shapes-v")
        assert json.dumps(results["record"])  # a whole record, as written


def test_command_line_values_are_read_as_the_runner_reads_them(monkeypatch) -> None:
    seen = {}

    def fake_run_study(slug, name, overrides, every, **halves):
        seen.update(slug=slug, name=name, overrides=overrides, every=every, **halves)
        return []

    monkeypatch.setattr(study, "run_study", fake_run_study)
    argv = ["mocogan", "fast", "--every", "500", "-p", "model.lr_g", "1e-3"]
    assert study.main(argv + ["-p", "train.steps", "1000"]) == 0
    assert seen["overrides"] == {"model.lr_g": 0.001, "train.steps": 1000}
    assert seen["every"] == 500
    assert (seen["seconds"], seen["train"], seen["judge"]) == (None, True, True)
    assert study.main(argv + ["--seconds", "330", "--train-only"]) == 0
    assert (seen["seconds"], seen["train"], seen["judge"]) == (330.0, True, False)
    assert study.main(argv + ["--judge-only"]) == 0
    assert (seen["train"], seen["judge"]) == (False, True)
    with pytest.raises(SystemExit):  # argparse: not both halves left out
        study.main(argv + ["--train-only", "--judge-only"])


def test_a_stopped_training_is_judged_where_it_stopped_then_resumed(
    studied: Path,
) -> None:
    """Train on one device until a deadline (here already passed: one step), judge
    elsewhere, then train on: every checkpoint is kept and judged once."""
    overrides = {"train.steps": 4}
    assert (
        run_study(
            "mocogan", "halves", overrides, 2, root=studied, seconds=0.0, judge=False
        )
        == []
    )
    assert not study_dir("mocogan", "halves", studied).exists()
    judged = run_study("mocogan", "halves", overrides, 2, root=studied, train=False)
    assert [p.parent.name for p in judged] == ["step-000001"]
    entry = json.loads(judged[0].read_text())
    assert (entry["params"]["study"], entry["record"]["train"]["steps"]) == (
        "halves",
        1,
    )
    judged = run_study("mocogan", "halves", overrides, 2, root=studied)
    assert [p.parent.name for p in judged] == [
        "step-000001",
        "step-000002",
        "step-000004",
    ]


def test_series_reads_one_check_per_step_from_the_files(studied: Path) -> None:
    series = study_series("mocogan", "h200_b64", "IS shape ÷ real")
    entries = [r for r in read_studies("mocogan") if r["params"]["study"] == "h200_b64"]
    assert list(series) == [r["record"]["train"]["steps"] for r in entries]
    assert len(series) == 7
    for step, entry in zip(series, entries, strict=True):
        metrics = entry["metrics"]
        by_hand = (
            metrics["is_judge_shape"]["value"] / metrics["is_judge_shape_real"]["value"]
        )
        assert series[step] == pytest.approx(by_hand, rel=1e-12)
    with pytest.raises(ValueError, match="has no committed study 'slow_g'"):
        study_series("mocogan", "slow_g", "IS action ÷ real", studied)
    with pytest.raises(ValueError, match="the bar has no check 'IS size ÷ real'"):
        study_series("mocogan", "fast_g", "IS size ÷ real", studied)


def test_series_lines_mark_the_values_that_meet_the_bar() -> None:
    """✓ follows each value at the bar and no other: RJGAN's shape score at 15,861
    steps (0.7998) prints as 0.80 without it."""
    checks = {"disentangled": False}
    lines = series_lines("residual", ("h200_b64_nearest",), "IS shape ÷ real", **checks)
    text = " ".join(lines.split())
    assert "0.80 at 15,861" in text
    assert "0.81 ✓ at 16,000" in text
    series = study_series("residual", "h200_b64_nearest", "IS shape ÷ real", **checks)
    for step, value in series.items():
        assert (f"✓ at {step:,}" in text) == (value >= 0.8), step


def test_series_lines_wrap_every_study_to_the_width() -> None:
    names = ("h200_b64", "h200_b64_nearest")
    text = series_lines("mocogan", names, "IS shape ÷ real", width=60)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60
    starts = [i for i, line in enumerate(lines) if not line.startswith("    ")]
    assert [lines[i].split(":")[0] for i in starts] == list(names)
    for name in names:
        series = study_series("mocogan", name, "IS shape ÷ real")
        for step, value in series.items():
            assert f"{value:.2f} at {step:,}" in " ".join(lines)
