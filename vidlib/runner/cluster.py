"""A grid's runs as cluster jobs: ``run SLUG --grid --executor local|slurm``.

Each run of the grid (variant × seed) that is not up to date becomes one submitit
job calling :func:`vidlib.runner.grids.execute_grid_run`, the function the
in-process path calls, so a job resumes from the run's own checkpoints and writes its
own ``results.json``; its logs go to ``submitit/`` in the run's folder
(``<chapter's run dir>/grid/<variant>[-seed<k>]/``). The command waits for every job,
then :func:`vidlib.runner.grids.run_grid` records the grid as it does for runs in
process. A failed job is reported with its variant, its log and its error, after the
others have ended; rerunning resumes.

``slurm`` submits with ``sbatch`` (the repository and its ``.venv`` on a filesystem
the nodes share); ``local`` runs the same submission path here, every job at once as
a subprocess with ``cores // jobs`` threads: what the tests run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import submitit
from submitit.core.utils import FailedJobError, pickle_load

from vidlib.runner.errors import RunFailed, RunnerError, show
from vidlib.runner.grids import (
    GridRun,
    execute_grid_run,
    execute_with_threads,
    kernel_threads,
)

EXECUTORS = ("local", "slurm")

#: a local job's time limit (submitit's default is 2 minutes): a week, i.e. none
LOCAL_TIMEOUT_MIN = 7 * 24 * 60


@dataclass(frozen=True)
class Cluster:
    """Where a grid's runs go, one job each, and what a Slurm job asks for."""

    executor: str  # one of EXECUTORS
    partition: str | None = None  # the Slurm partition (default: the cluster's)
    time_min: int = 60  # a Slurm job's time limit; a run cut off resumes on rerun
    gpus: int | None = None  # GPUs per Slurm job
    cpus: int | None = None  # CPUs per Slurm job (and torch threads in it)
    mem_gb: int | None = None  # memory per Slurm job

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise RunnerError(
                f"--executor {self.executor!r} is not an executor; expected one of"
                f" {', '.join(EXECUTORS)}"
            )
        options = {
            "--slurm-time": self.time_min,
            "--slurm-gpus": self.gpus,
            "--slurm-cpus": self.cpus,
            "--slurm-mem": self.mem_gb,
        }
        for option, value in options.items():
            if value is not None and value < 1:
                raise RunnerError(f"{option} must be >= 1, got {value}")
        missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
        if self.executor == "slurm" and missing:  # submitit's own error is a traceback
            raise RunnerError(
                "--executor slurm submits with sbatch and runs with srun, but"
                f" {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not"
                " on PATH: run on a Slurm login node, or use --executor local to run"
                " the jobs here"
            )

    def run_jobs(
        self, runs: Sequence[GridRun], force: bool = False
    ) -> list[dict[str, Any]]:
        """The runs' results, in order: one job for each run that is not up to date
        (every run with ``force``), all submitted before the first is waited for.
        RunFailed names every failed job once all have ended."""
        results: dict[int, dict[str, Any]] = {}
        todo = []
        for i, run in enumerate(runs):
            if not force and run.up_to_date():
                results[i] = execute_grid_run(run)  # reads its results, says so
            else:
                todo.append(i)
        # local jobs share this machine's cores; a Slurm job has the CPUs it asked for
        threads = kernel_threads(len(todo)) if self.executor == "local" else self.cpus
        jobs = {i: self.submit(runs[i], force, threads) for i in todo}
        if jobs:
            print(f"waiting for {len(jobs)} {self.executor} job(s)", flush=True)
        failures = []
        for i, job in jobs.items():
            run, error = runs[i], job.exception()  # waits for the job to end
            if error is None:
                results[i] = job.result()
                print(f"{run.label}: job {job.job_id} done")
            else:
                failures.append(
                    f"{run.origin} [{run.profile}] failed in job {job.job_id}:"
                    f" {job_error(job, error)}; log: {show(job.paths.stderr)}"
                )
        if failures:
            raise RunFailed(
                f"{len(failures)} of {len(jobs)} grid job(s) failed (the other runs'"
                " results are kept; rerunning resumes):\n" + "\n".join(failures)
            )
        return [results[i] for i in range(len(runs))]

    def submit(self, run: GridRun, force: bool, threads: int | None) -> submitit.Job:
        """Submit ``run`` as a job (with at most ``threads`` torch threads) whose logs
        go to ``submitit/`` in its folder."""
        folder = run.run_dir / "submitit"
        # a local job's id is its process id, which the system reuses: a result file
        # left by an earlier job of that id would be read as this job's
        for stale in folder.glob("*_result.pkl"):
            stale.unlink()
        executor = submitit.AutoExecutor(folder, cluster=self.executor)
        executor.update_parameters(name=f"{run.slug}-{run.name}", **self.parameters())
        try:
            if threads is None:
                job = executor.submit(execute_grid_run, run, force)
            else:
                job = executor.submit(execute_with_threads, run, force, threads)
        except FailedJobError as e:  # sbatch refused it: its message
            raise RunFailed(
                f"{run.origin} [{run.profile}]: the {self.executor} job was refused"
                f" ({str(e).strip() or 'no message'}); jobs submitted before it go on,"
                " and rerunning the command resumes"
            ) from e
        print(
            f"{run.label}: {self.executor} job {job.job_id} -> {show(run.run_dir)}"
            f" (log: {show(job.paths.stdout)})",
            flush=True,
        )
        return job

    def parameters(self) -> dict[str, Any]:
        """submitit's parameters for a job."""
        if self.executor == "local":
            # submitit hides every GPU from a local job (CUDA_VISIBLE_DEVICES="");
            # it sees those this process sees, as a run in process would
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            show_gpus = (
                "unset CUDA_VISIBLE_DEVICES"
                if visible is None
                else f"export CUDA_VISIBLE_DEVICES={shlex.quote(visible)}"
            )
            return {"timeout_min": LOCAL_TIMEOUT_MIN, "local_setup": [show_gpus]}
        return {
            "timeout_min": self.time_min,
            "slurm_partition": self.partition,
            "gpus_per_node": self.gpus,
            "cpus_per_task": self.cpus,
            "mem_gb": self.mem_gb,
        }


def job_error(job: submitit.Job, error: Exception) -> str:
    """A failed job's error in one line: the first line of the exception the run
    raised first (what a run in process reports after ``failed:``), or how the job
    ended without a result."""
    if not isinstance(error, FailedJobError):
        return f"it ended without a result (state {job.state})"
    _, trace = pickle_load(job.paths.result_pickle)  # ("error", the traceback)
    # below "Traceback (most recent call last):", the frames are indented and the
    # exception is not; a chained one follows the first
    lines = trace.splitlines()[1:]
    first = next((line for line in lines if line[:1].strip()), "no traceback")
    return re.sub(r"^[\w.]+\.(?=\w+:)", "", first)  # the exception's class, unqualified
