"""The compute chapter's reading of benchmarks/gpu.py's files (vidlib.compute), and
the benchmark's own grouping and resuming (benchmarks/gpu.py, one small CPU run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vidlib import compute
from vidlib.record import profile_record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu  # noqa: E402  (benchmarks/ is not a package)

ROW = {"batch": 16, "resolution": 64, "frames": 16, "first_interval_s": 1.0}


def bench(size: str = "paper") -> dict:
    rows = [
        {
            "model": "g3an",
            "setting": "eager fp32",
            **ROW,
            "train_clips_per_s": 200.0,
            "train_step_s": 0.08,
        },
        {
            "model": "g3an",
            "setting": "eager bf16",
            **ROW,
            "train_clips_per_s": 300.0,
            "train_step_s": 0.05,
        },
        {"model": "g3an", "setting": "compiled bf16", "error": "stopped after 40 s"},
        {
            "model": "tgan",
            "setting": "eager bf16",
            **ROW,
            "train_clips_per_s": 50.0,
            "train_step_s": 0.3,
        },
    ]
    return {"size": size, "machine": {"device": "X"}, "runs": [], "rows": rows}


def test_table_shows_values_errors_and_rows_not_run() -> None:
    header, rows = compute.table(bench(), "train_clips_per_s")
    assert header == ["model", "clip T×H×W, batch", *compute.SETTINGS]
    assert rows[0] == [
        "g3an",
        "16×64×64, batch 16",
        "200",
        "300",
        "stopped after 40 s",
        "not run",
    ]
    assert rows[1][2:] == ["not run", "50", "not run", "not run"]


def test_settings_table_shows_each_comparisons_speedup_and_rows_not_run() -> None:
    def row(model: str, comparison: str, speedup: float) -> dict:
        return {"model": model, "comparison": comparison, "a": "A", "b": "B"} | {
            "speedup": speedup
        }

    settings = {"rows": [row("navs", "threads", 1.5), row("navs", "layout", 1.25)]}
    settings["rows"].append(row("tgan", "layout", 0.9))
    header, rows = compute.settings_table(settings)
    assert header == ["model", "threads", "layout"]
    assert compute.settings_legend(settings) == {"threads": "B ÷ A", "layout": "B ÷ A"}
    assert rows == [["navs", "1.50×", "1.25×"], ["tgan", "not run", "0.90×"]]
    committed = compute.read_cpu_settings()
    assert committed and {r["model"] for r in committed[0]["rows"]} == set(
        compute.MODELS
    )


def test_ratio_is_over_divided_by_under_and_none_when_a_row_is_missing() -> None:
    b = bench()
    assert (
        compute.ratio(b, "g3an", "train_clips_per_s", "eager bf16", "eager fp32") == 1.5
    )
    assert (
        compute.ratio(b, "g3an", "train_clips_per_s", "compiled bf16", "eager bf16")
        is None
    )
    assert (
        compute.ratio(b, "tgan", "train_clips_per_s", "eager bf16", "eager fp32")
        is None
    )


def test_paper_run_hours_are_the_paper_records_steps_times_the_step() -> None:
    steps = profile_record("g3an", "paper").train["steps"]
    assert compute.paper_run_hours(bench()) == [("g3an", steps, steps * 0.08 / 3600)]
    assert compute.paper_run_hours(bench(), "eager bf16") == [
        ("g3an", steps, steps * 0.05 / 3600),
        (
            "tgan",
            profile_record("tgan", "paper").train["steps"],
            profile_record("tgan", "paper").train["steps"] * 0.3 / 3600,
        ),
    ]
    assert compute.paper_run_hours(bench("cpu")) == []  # cpu-size steps


def test_read_benchmarks_names_a_file_that_is_not_a_benchmark(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(bench()))
    assert [b["file"] for b in compute.read_benchmarks(tmp_path)] == ["a.json"]
    (tmp_path / "b.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match=r"b\.json: missing \['machine', 'runs'"):
        compute.read_benchmarks(tmp_path)
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(ValueError, match=r"b\.json: not JSON"):
        compute.read_benchmarks(tmp_path)


def test_the_committed_benchmark_files_read() -> None:
    benches = compute.read_benchmarks()
    assert benches, "book/results/benchmarks/ holds no file of benchmarks/gpu.py"
    for b in benches:
        assert all(row["setting"] in compute.SETTINGS for row in b["rows"])
        assert {row["run"] for row in b["rows"]} <= {run["run"] for run in b["runs"]}


def test_every_model_is_timed_at_its_records_size() -> None:
    for name in gpu.MODELS:
        for size in ("paper", "cpu"):
            model, batch = compute.model_and_batch(name, size)
            assert model["name"] == name and batch >= 1
    model, batch = compute.model_and_batch("g3an", "paper")
    assert (model, batch) == (
        profile_record("g3an", "paper").model,
        profile_record("g3an", "paper").train["batch_size"],
    )


def test_groups_run_eager_rows_first_together_on_cuda_alone_on_a_cpu() -> None:
    todo = [(m, s) for s in gpu.SETTINGS for m in ("tgan", "mocogan")]
    assert gpu.groups(torch.device("cuda"), todo) == [
        ["mocogan", ["eager fp32", "eager bf16"]],
        ["tgan", ["eager fp32", "eager bf16"]],
        ["mocogan", ["compiled bf16"]],
        ["tgan", ["compiled bf16"]],
        ["mocogan", ["compiled fp32"]],
        ["tgan", ["compiled fp32"]],
    ]
    on_cpu = gpu.groups(torch.device("cpu"), todo)
    assert [len(settings) for _, settings in on_cpu] == [1] * 8
    assert on_cpu[:2] == [["mocogan", ["eager fp32"]], ["tgan", ["eager fp32"]]]


def test_a_rerun_keeps_measured_rows_and_reruns_failed_ones(tmp_path: Path) -> None:
    out = tmp_path / "cpu.json"
    old_row = {"model": "dsa", "setting": "eager fp32", **ROW, "run": 1}
    failed = {"model": "dsa", "setting": "eager bf16", "error": "stopped", "run": 1}
    machine = gpu.machine(torch.device("cpu"))
    runs = [{"run": 1, "git_sha": "x", "repeats": 1, "load_before": 0.0}]
    out.write_text(
        json.dumps(
            {"size": "cpu", "machine": machine, "runs": runs, "rows": [old_row, failed]}
        )
    )
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--models", "dsa"]
    command += ["--settings", "eager fp32", "eager bf16", "--repeats", "1"]
    command += ["--batch", "2", "--gpus", "2", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    record = json.loads(out.read_text())
    ranked = [r for r in record["rows"] if r["setting"] == "eager fp32 ×2"]
    assert len(ranked) == 1 and ranked[0]["batch"] == 4  # 2 clips on each of 2 ranks
    speed = 4 / ranked[0]["train_step_s"]  # the global batch's clips per second
    assert ranked[0]["train_clips_per_s"] == pytest.approx(speed, rel=0.01)
    assert compute.table(record, "batch")[0][-1] == "eager fp32 ×2"  # its column
    assert [r["run"] for r in record["runs"]] == [1, 2]
    assert record["rows"][0] == old_row  # kept, not measured again
    new = record["rows"][1]
    assert (new["model"], new["setting"], new["run"], new["batch"]) == (
        "dsa",
        "eager bf16",
        2,
        2,
    )
    assert new["train_clips_per_s"] == pytest.approx(2 / new["train_step_s"], rel=0.01)
    assert new["peak_memory_mib"] > 0


def test_curve_leaves_out_the_sizes_a_config_refused() -> None:
    costs = {
        "rows": [
            {"model": "g3an", "axis": "frames", "value": 4, "train_step_s": 0.1},
            {"model": "g3an", "axis": "frames", "value": 8, "skipped": "refused"},
            {"model": "g3an", "axis": "frames", "value": 16, "train_step_s": 0.4},
            {"model": "g3an", "axis": "batch", "value": 4, "train_step_s": 0.2},
        ]
    }
    assert compute.curve(costs, "g3an", "frames") == ([4, 16], [0.1, 0.4])


def test_navs_dataset_curve_reads_the_videos_and_the_latent_gradients() -> None:
    rows = [
        {"setting": "paper size (64x64x16), batch 16", "seconds_per_step": 9.0},
        {
            "setting": "cpu profile, 256 videos (per-video tables), sparse latent "
            "grads",
            "seconds_per_step": 0.5,
        },
        {
            "setting": "cpu profile, 4096 videos (per-video tables), dense latent "
            "grads",
            "seconds_per_step": 0.7,
        },
    ]
    assert compute.navs_dataset_curve({"rows": rows}) == {
        "sparse": [(256, 0.5)],
        "dense": [(4096, 0.7)],
    }


def test_own_size_times_are_the_points_at_the_cpu_records_size() -> None:
    record = profile_record("mocogan", "cpu")
    size, frames = record.data.resolution, record.data.frames
    batch = record.train["batch_size"]
    costs = {
        "rows": [
            {
                "model": "mocogan",
                "axis": "resolution",
                "value": size,
                "train_step_s": 0.1,
            },
            {
                "model": "mocogan",
                "axis": "resolution",
                "value": 2 * size,
                "train_step_s": 0.4,
            },
            {
                "model": "mocogan",
                "axis": "frames",
                "value": frames,
                "train_step_s": 0.12,
            },
            {"model": "mocogan", "axis": "batch", "value": batch, "train_step_s": 0.11},
            {
                "model": "mocogan",
                "axis": "batch",
                "value": 2 * batch,
                "train_step_s": 0.2,
            },
        ]
    }
    assert compute.own_size_times(costs, "mocogan") == [0.1, 0.12, 0.11]


def test_parameters_count_what_the_model_builds_on_the_cpu() -> None:
    from vidlib.method import build

    model = profile_record("tgan", "cpu").model
    nets = build(model).nets.values()
    unique = {id(p): p.numel() for net in nets for p in net.parameters()}
    assert compute.parameters(model) == sum(unique.values())


def test_results_table_reads_benchmarks_and_the_runs_training_times(
    tmp_path: Path,
) -> None:
    """Each run's training time is its checkpoints' fit time (seconds per step ×
    steps), whether it trained or loaded them; a run that loaded its checkpoints and
    only evaluated has a short wall time that must not count."""
    from types import SimpleNamespace

    record = profile_record("tgan", "cpu").as_dict()
    cpu = bench("cpu") | {"machine": {"device": "CPU", "cpu_cores": 2, "torch": "t"}}
    cpu["rows"][-1]["sample_clips_per_s"] = 40.0
    cpu["rows"].append(
        {**cpu["rows"][-1], "setting": "eager fp32", "train_step_s": 0.2}
    )
    (tmp_path / "cpu.json").write_text(json.dumps(cpu))
    steps = record["train"]["steps"]

    def run(per_step: float, **extra) -> SimpleNamespace:
        metrics = {"train_seconds_per_step": {"value": per_step}}
        return SimpleNamespace(results={"record": record, "metrics": metrics, **extra})

    # the chapter run, a seed run that trained, one that loaded (wall 9 s)
    runs = [run(0.1), run(0.12, variant="tgan", wall_time_s=500.0)]
    runs.append(run(0.14, variant="tgan", wall_time_s=9.0))
    header, rows, machines = compute.results_table(
        {"tgan": runs}, tmp_path, name_of=str.upper
    )
    assert header[3:] == ["step s, A", "clips/s, A", "training s of a run"]
    (row,) = rows
    assert row[0] == "TGAN" and row[3:] == ["0.2", "40", f"{0.12 * steps:.0f}"]
    assert row[1] == f"{compute.parameters(record['model']):,}"
    assert machines[0] == (
        "A: cpu size on CPU (2 CPU cores, torch t), eager fp32, cpu.json, 0 run(s)"
    )
