"""``run_experiment``: results.json with the record, reruns load, a changed setting
trains into a new folder, ``compare`` refuses other data, seeding precedes building;
and ``vidlib.record.deviations`` (the profile's departures from the paper)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_method import tiny_record
from test_registry import RandomJudges

from vidlib.experiment import (
    compare,
    comparison_table,
    held_out,
    metrics_table,
    run_experiment,
)
from vidlib.method import eval_mode, load_trained
from vidlib.metrics.disentanglement import code_effect
from vidlib.metrics.registry import evaluate
from vidlib.record import deviations, parse_record
from vidlib.results import ROOT


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_results_rerun_and_a_changed_setting(tmp_path: Path) -> None:
    record = parse_record(tiny_record("mocogan"))
    first = run_experiment(record, tmp_path, slug="mocogan")
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["record"] == record.as_dict()
    assert {"mfd_fake", "mfd_real", "train_seconds_per_step"} <= set(results["metrics"])
    assert first.fitted.status == "trained"

    again = run_experiment(record, tmp_path, slug="mocogan")
    assert again.fitted.status == "loaded"
    assert again.train_dir == first.train_dir
    assert again.metrics["mfd_fake"] == first.metrics["mfd_fake"]

    before = snapshot(first.train_dir)
    wider = run_experiment(record.replace({"model.ngf": 8}), tmp_path)
    assert wider.fitted.status == "trained"
    assert wider.train_dir.parent == first.train_dir.parent != wider.train_dir
    assert snapshot(first.train_dir) == before


def test_metrics_are_measured_in_eval_mode(tmp_path: Path) -> None:
    record = parse_record(tiny_record("mocogan")).replace(
        {"eval.metrics": ["code_effect"]}
    )
    exp = run_experiment(record, tmp_path)
    assert all(net.training for net in exp.method.nets.values())  # restored
    with eval_mode(exp.method):
        expected = code_effect(exp.method, "z_C", n=4, seed=exp.seed + 3)
    assert exp.metrics["code_effect_z_C"]["value"] == expected


def test_inception_scores_come_with_the_held_out_clips_own(tmp_path: Path) -> None:
    record = parse_record(tiny_record("mocogan")).replace(
        {"eval.metrics": ["is_judge"]}
    )
    judges = RandomJudges()
    exp = run_experiment(record, tmp_path, judges=judges)
    assert {"is_judge_action", "is_judge_color", "is_judge_action_real"} <= set(
        exp.metrics
    )
    real = held_out(record, record.eval.num)
    expected = evaluate(["is_judge_color"], real, judges=judges)["is_judge_color"]
    assert exp.metrics["is_judge_color_real"]["value"] == expected["value"]
    assert exp.metrics["is_judge_color"]["value"] != expected["value"]


def test_num_threads_is_set_and_not_hashed(tmp_path: Path) -> None:
    record = parse_record(tiny_record("mocogan"))
    threads = torch.get_num_threads()
    one = record.replace({"train.num_threads": 1})
    assert one.training_key() == record.training_key()
    try:
        run_experiment(one, tmp_path)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_compare_refuses_a_run_on_other_data(tmp_path: Path) -> None:
    base = tiny_record("mocogan")
    other = base | {"data": base["data"] | {"actions": ["right", "up"]}}
    run_experiment(other, tmp_path / "other", slug="mocogan")
    ours = run_experiment(base, tmp_path / "ours")
    with pytest.raises(ValueError, match=f"{tmp_path / 'other'} used other data"):
        compare(ours, tmp_path / "other")


RUN = """
import sys, torch
from test_method import tiny_record
from test_registry import RandomJudges
from vidlib.experiment import run_experiment
torch.manual_seed(int(sys.argv[2]))  # a different global RNG state in each process
torch.rand(int(sys.argv[2]))
run_experiment(tiny_record("g3an"), sys.argv[1], slug="g3an")
"""


def test_two_processes_with_one_record_train_the_same_weights(tmp_path: Path) -> None:
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(tmp_path / f"run{k}"), str(k + 1)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()
    (a, _, _), (b, _, _) = (load_trained(tmp_path / f"run{k}") for k in range(2))
    for name, net in a.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(b.nets[name].state_dict()[key], value), (name, key)


def test_deviations_are_the_model_fields_that_differ_from_the_paper() -> None:
    record = parse_record(tiny_record("mocogan"))
    lines = deviations(record)
    assert "ngf = 4 (paper: 64)" in lines
    assert "resolution = 16 (paper: 64)" in lines
    assert not any(line.startswith(("loss =", "name =")) for line in lines)
    paper = parse_record(
        {"model": {"name": "mocogan"}, "train": tiny_record("mocogan")["train"]}
    )
    assert deviations(paper) == []


def test_results_of_a_run_without_sample_grids(tmp_path: Path) -> None:
    record = parse_record(tiny_record("mocogan")).replace({"train.sample_every": 0})
    run_experiment(record, tmp_path, slug="mocogan")
    artifacts = json.loads((tmp_path / "results.json").read_text())["artifacts"]
    assert "samples" not in artifacts and "checkpoint" in artifacts


def test_comparison_table_gives_each_measures_direction() -> None:
    ours = {"is_judge_action": {"value": 2.0}, "mfd_fake": {"value": 0.1}}
    theirs = {
        "is_judge_action": {"value": 1.5, "better": "higher"},
        "mfd_fake": {"value": 0.2},
    }
    lines = comparison_table(ours, theirs, ("A", "B")).splitlines()
    assert lines[0] == "| measure | A | B | better |"
    assert lines[2:] == [
        "| `is_judge_action` | 2.000 | 1.500 | higher |",
        "| `mfd_fake` | 0.100 | 0.200 | — |",
    ]


def test_metrics_table_keeps_the_measures_every_run_has() -> None:
    runs = {
        "A": {"fd": {"value": 3.0}, "only_a": {"value": 1.0}, "none": {"value": None}},
        "B": {"fd": {"value": 2.0}, "none": {"value": 1.0}},
        "C": {"fd": {"value": 1.25, "better": "lower"}, "none": {"value": 2.0}},
    }
    lines = metrics_table(runs).splitlines()
    assert lines == [
        "| measure | A | B | C | better |",
        "|---|---|---|---|---|",
        "| `fd` | 3.000 | 2.000 | 1.250 | lower |",
    ]
