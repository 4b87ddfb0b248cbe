"""Grid runs as submitit jobs (:mod:`vidlib.runner.cluster`), on the toy chapter of
``tests/test_runner.py``.

The local executor goes the whole way (each job a subprocess training a tiny
MoCoGAN, as a Slurm job would on a node); Slurm only up to ``sbatch``, a stand-in
that prints a job id (to read the job script it would get) or refuses. The bad inputs an
executor's user meets first (an unknown executor, Slurm without ``sbatch``) are cases
of ``tests/test_bad_inputs.py``; the other refusals are here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import submitit
import torch
from submitit.core.utils import DelayedSubmission

from tests.test_runner import chapter, prep, prep_grid, write_grid
from vidlib import runner
from vidlib.results import GRID_INDEX, grid_results
from vidlib.runner import grids
from vidlib.runner.cli import main
from vidlib.runner.cluster import Cluster
from vidlib.runner.errors import RunFailed
from vidlib.runner.grids import (
    execute_with_threads,
    kernel_threads,
    prepare_grid,
    run_grid,
)

GRID = "variants: {narrow: {}, wide: {model.ngf: 6}}\n"

#: what differs between two runs of one record: when (at which commit: another
#: engineer's commit during a test changes it) and how fast it ran
WHEN = {"created", "git_sha", "wall_time_s", "digest"}


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    """A notebooks/ folder with the toy chapter and its grid of two runs."""
    folder = tmp_path / "notebooks"
    (folder / "params").mkdir(parents=True)
    chapter(folder, "toy")
    write_grid(folder, GRID)
    return folder


def timeless(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` without when and how fast it ran (the metrics' seconds per step
    included)."""
    metrics = dict(results["metrics"])
    metrics.pop("train_seconds_per_step")
    return {k: v for k, v in results.items() if k not in WHEN} | {"metrics": metrics}


def test_local_jobs_resume_after_a_failure_and_match_runs_in_process(
    notebooks, tmp_path, monkeypatch, capsys
):
    """The grid as two local jobs through ``run_all``, one of which cannot train (a
    file where its training folder goes): the error names its variant, job, exception
    and log; the other run's results are kept and no index is written. Rerun once the
    file is gone: only that run is a job, and the grid is recorded. Each run's results
    equal, to the last bit (tolerance 0), those of the same run in process with the
    threads its job had (cores // the jobs running at once)."""
    where = {"notebooks_dir": notebooks, "out_root": notebooks.parent / "runs"}
    narrow, wide = prep_grid(notebooks)
    blocker = wide.run_dir / "train"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    with pytest.raises(RunFailed) as failed:
        runner.run_all(["toy"], "smoke", grid=True, cluster=Cluster("local"), **where)
    summary, line = str(failed.value).splitlines()
    assert summary.startswith("1 of 2 grid job(s) failed (the other runs' results")
    found = re.fullmatch(
        r".*toy\.smoke\.grid\.yaml, variant wide \[smoke\] failed in job \d+:"
        r" NotADirectoryError: .*/grid/wide/train/.*; log: (.*)",
        line,
    )
    assert found, line
    assert Path(found[1]).parent == wide.run_dir / "submitit"
    assert "NotADirectoryError" in Path(found[1]).read_text()
    assert narrow.up_to_date() and not wide.up_to_date()
    assert not (narrow.run_dir.parent / GRID_INDEX).exists()
    kept = (narrow.run_dir / "results.json").read_bytes()

    blocker.unlink()
    capsys.readouterr()
    runner.run_all(["toy"], "smoke", grid=True, cluster=Cluster("local"), **where)
    out = capsys.readouterr().out
    assert "toy [smoke] grid narrow: up to date" in out
    assert "grid narrow: local job" not in out
    assert re.search(r"toy \[smoke\] grid wide: local job \d+ -> ", out)
    assert (narrow.run_dir / "results.json").read_bytes() == kept
    jobs = grid_results(prep(notebooks).run_dir)  # read through the index
    assert [r["variant"] for r in jobs] == ["narrow", "wide"]
    for run in (narrow, wide):  # each job's output went to its log
        logs = "".join(p.read_text() for p in run.run_dir.glob("submitit/*_log.out"))
        assert f"toy [smoke] grid {run.name}: done in " in logs

    here = prepare_grid("toy", "smoke", notebooks_dir=notebooks, out_root=tmp_path)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # restored after the test
    before = torch.get_num_threads()
    try:
        expected = [
            execute_with_threads(here[0], False, kernel_threads(2)),  # beside wide
            execute_with_threads(here[1], False, kernel_threads(1)),  # alone
        ]
    finally:
        torch.set_num_threads(before)
    assert [timeless(r) for r in jobs] == [timeless(r) for r in expected]


def test_local_jobs_see_the_gpus_this_process_sees(tmp_path, monkeypatch):
    """submitit hides every GPU from a local job (``CUDA_VISIBLE_DEVICES=""``); a
    grid run's job sees those a run in process would see."""
    executor = submitit.AutoExecutor(tmp_path, cluster="local")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    executor.update_parameters(**Cluster("local").parameters())
    shown = executor.submit(os.getenv, "CUDA_VISIBLE_DEVICES")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    executor.update_parameters(**Cluster("local").parameters())
    unset = executor.submit(os.getenv, "CUDA_VISIBLE_DEVICES", "unset")
    assert (shown.result(), unset.result()) == ("3", "unset")


def fake_slurm(folder: Path, monkeypatch, sbatch: str) -> None:
    """``sbatch`` (the shell lines ``sbatch``) and a stand-in ``srun`` on PATH."""
    folder.mkdir()
    for command, script in (("sbatch", sbatch), ("srun", "exit 0")):
        (folder / command).write_text(f"#!/bin/sh\n{script}\n")
        (folder / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_slurm_job_asks_for_the_options_and_calls_the_grid_run(
    notebooks, tmp_path, monkeypatch
):
    """``sbatch`` replaced by a script that prints a job id: the job script asks for
    the options, logs under the run, and runs the function the local path runs."""
    fake_slurm(tmp_path / "bin", monkeypatch, "echo Submitted batch job 4242")
    run = prep_grid(notebooks)[0]
    cluster = Cluster("slurm", partition="gpu", time_min=240, gpus=1, cpus=8, mem_gb=16)
    job = cluster.submit(run, force=False, threads=8)
    assert job.job_id == "4242"
    script = job.paths.submission_file.read_text()
    for flag in (
        "--partition=gpu",
        "--time=240",
        "--gpus-per-node=1",
        "--cpus-per-task=8",
        "--mem=16GB",
        "--job-name=toy-narrow",
        f"--output={run.run_dir}/submitit/%j_0_log.out",
    ):
        assert f"#SBATCH {flag}\n" in script, flag
    submitted = DelayedSubmission.load(job.paths.submitted_pickle)
    assert submitted.function is execute_with_threads
    assert submitted.args == (run, False, 8)


def test_a_job_sbatch_refuses_is_named_with_its_message(
    notebooks, tmp_path, monkeypatch
):
    refuse = "echo 'sbatch: error: invalid partition specified: gpu' >&2; exit 1"
    fake_slurm(tmp_path / "bin", monkeypatch, refuse)
    message = (
        r"variant narrow \[smoke\]: the slurm job was refused \(sbatch: error: invalid"
        r" partition specified: gpu\); jobs submitted before it go on"
    )
    with pytest.raises(RunFailed, match=message):
        run_grid(prep_grid(notebooks), cluster=Cluster("slurm", partition="gpu"))


@pytest.mark.parametrize(
    "options, cluster",
    [
        (["--executor", "local"], {"executor": "local"}),
        (
            ["--executor", "slurm", "--slurm-partition", "gpu", "--slurm-time", "30"],
            {"executor": "slurm", "partition": "gpu", "time_min": 30},
        ),
    ],
)
def test_the_cli_hands_a_grid_to_its_executor(tmp_path, monkeypatch, options, cluster):
    """``run g3an --profile cpu --grid --executor ...``: the committed grid's runs
    reach the executor with the options, in order, and the grid is recorded (the
    jobs themselves are the first test's)."""
    fake_slurm(tmp_path / "bin", monkeypatch, "exit 1")  # never called
    handed = []

    def run_jobs(self: Cluster, runs, force=False) -> list[dict]:
        handed.append((self, [run.name for run in runs], force))
        return [{} for _ in runs]

    def in_process(*_: Any, **__: Any) -> None:  # fails fast, trains nothing
        raise AssertionError("the grid ran in process, not as jobs")

    monkeypatch.setattr(Cluster, "run_jobs", run_jobs)
    monkeypatch.setattr(grids, "execute_grid_run", in_process)
    out_root = tmp_path / "runs"
    argv = ["run", "g3an", "--profile", "cpu", "--grid", *options, "--force"]
    assert main([*argv, "--out-root", str(out_root)]) == 0
    names = [run.name for run in prepare_grid("g3an", "cpu", out_root=out_root)]
    assert handed == [(Cluster(**cluster), names, True)]
    index = out_root / "cpu" / "g3an" / "grid" / GRID_INDEX
    assert json.loads(index.read_text()) == {"runs": names}


@pytest.mark.parametrize(
    "options, message",
    [
        (["--executor", "local"], "--executor local runs a grid's runs as jobs; give"),
        (["--grid", "--executor", "local", "--jobs", "2"], "--jobs 2 with --executor"),
        (
            ["--grid", "--slurm-gpus", "1"],
            "--slurm-gpus: Slurm options need --executor slurm",
        ),
        (["--grid", "--executor", "slurm", "--slurm-time", "0"], "--slurm-time must"),
    ],
)
def test_executor_refusals_exit_2(tmp_path, capsys, options, message):
    """Refused before the chapter is looked up: it does not exist, so that nothing
    runs should a refusal go missing."""
    out_root = tmp_path / "runs"
    argv = ["run", "no_such_chapter", "--profile", "cpu", *options]
    argv += ["--out-root", str(out_root)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.match(f"error: {message}", err) and err.count("\n") == 1, err
    assert not out_root.exists()
