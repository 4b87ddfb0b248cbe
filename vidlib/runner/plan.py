"""What one command runs: chapters in the order of their needs, grids first.

Every run of a command is validated before the first one executes, so bad input
(a params file, ``-p``, a grid file, a missing needed run, a cycle) stops it with
nothing written. With ``jobs`` > 1, chapters whose needs are done run side by side,
each in its own process with ``cores // jobs`` threads (``OMP_NUM_THREADS`` for its
kernel); after a failure no new chapter starts, the running ones finish, and the
first failure is raised. A command of one chapter runs its grid's variants ``jobs``
at a time instead (:func:`vidlib.runner.grids.run_grid`), or as jobs of a cluster
(:mod:`vidlib.runner.cluster`).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from vidlib.runner.cluster import Cluster
from vidlib.runner.errors import MissingRun, RunnerError, show
from vidlib.runner.grids import (
    grid_file,
    kernel_threads,
    limit_threads,
    prepare_grid,
    run_grid,
)
from vidlib.runner.jobs import execute, prepare
from vidlib.runner.notebooks import notebooks_folder, slugs
from vidlib.runner.order import needs_of, ordered
from vidlib.runner.params import PROFILES, check_profile, params_file


def run(
    slug: str,
    profile: str = "smoke",
    overrides: Mapping[str, Any] | None = None,
    *,
    out_root: Path | None = None,
    notebooks_dir: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run one chapter (skipped while up to date) and return its results dict."""
    ordered([slug], notebooks_dir)  # refuses a cycle through its needs
    kwargs = {"notebooks_dir": notebooks_dir, "out_root": out_root}
    return execute(prepare(slug, profile, overrides, **kwargs), force=force)


def run_all(
    names: Sequence[str],
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    grid: bool = False,
    grids_too: bool = False,
    out_root: Path | None = None,
    notebooks_dir: Path | None = None,
    force: bool = False,
    jobs: int = 1,
    cluster: Cluster | None = None,
) -> list[str]:
    """Run ``names`` ordered by their needs; return that order.

    ``grid`` runs only the chapters' grids; ``grids_too`` runs a chapter's grid (if
    its profile has one) before the chapter; ``jobs`` chapters run at a time;
    ``cluster`` runs each grid run as a job there (with ``grid`` only).
    Everything is validated first.
    """
    if jobs < 1:
        raise RunnerError(f"jobs must be >= 1, got {jobs}")
    if cluster is not None and not grid:
        raise RunnerError(
            f"--executor {cluster.executor} runs a grid's runs as jobs; give --grid"
        )
    if cluster is not None and jobs > 1:
        raise RunnerError(
            f"--jobs {jobs} with --executor {cluster.executor}: the executor runs"
            " every grid run at once as a job of its own; drop --jobs"
        )
    check_profile(profile)
    kwargs = {"notebooks_dir": notebooks_dir, "out_root": out_root}
    order = ordered(names, notebooks_dir)
    plan = []
    for slug in order:
        has_grid = (
            grid or grids_too and grid_file(slug, profile, notebooks_dir).is_file()
        )
        runs = prepare_grid(slug, profile, overrides, **kwargs) if has_grid else []
        if not grid:  # needs that run earlier in this command may not exist yet
            prepare(slug, profile, overrides, pending=order, **kwargs)
        plan.append((slug, runs))
    if jobs > 1 and len(plan) > 1:
        _run_side_by_side(plan, profile, overrides, kwargs, grid, force, jobs)
        return order
    for slug, runs in plan:  # one chapter at a time: its grid runs ``jobs`` at a time
        args = (slug, runs, profile, overrides, kwargs, grid, force)
        _run_chapter(*args, jobs=jobs, cluster=cluster)
    return order


def _run_chapter(
    slug: str,
    runs: list,
    profile: str,
    overrides: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
    grid: bool,
    force: bool,
    threads: int | None = None,
    jobs: int = 1,
    cluster: Cluster | None = None,
) -> None:
    """A chapter's grid (``runs``, ``jobs`` at a time or as jobs of ``cluster``),
    then the chapter unless only grids run; ``threads`` limits torch's threads here
    and in the kernel."""
    if threads is not None:
        limit_threads(threads)
    if runs:
        run_grid(runs, force=force, jobs=jobs, cluster=cluster)
    if not grid:  # prepared again: its inputs include what ran before it
        execute(prepare(slug, profile, overrides, **kwargs), force=force)


def _run_side_by_side(
    plan: list[tuple[str, list]],
    profile: str,
    overrides: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
    grid: bool,
    force: bool,
    jobs: int,
) -> None:
    """Run the planned chapters ``jobs`` at a time, each after the chapters of the
    plan it needs."""
    folder = kwargs["notebooks_dir"]
    planned = [slug for slug, _ in plan]
    waits_for = {slug: set(needs_of(slug, folder)) & set(planned) for slug in planned}
    threads = kernel_threads(jobs)
    todo, done, failures = list(plan), set(), []
    running: dict[Future, str] = {}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
        while todo or running:
            for slug, runs in list(todo):
                if failures or len(running) == jobs or not waits_for[slug] <= done:
                    continue
                args = (slug, runs, profile, overrides, kwargs, grid, force, threads)
                running[pool.submit(_run_chapter, *args)] = slug
                todo.remove((slug, runs))
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                slug = running.pop(future)
                if future.exception() is not None:
                    failures.append(future.exception())
                else:
                    done.add(slug)
    if failures:
        raise failures[0]


def list_runs(
    out_root: Path | None = None, notebooks_dir: Path | None = None
) -> list[tuple[str, str, str, str]]:
    """(slug, profile, params file, status) for smoke and each profile with a file."""
    rows = []
    folder = notebooks_folder(notebooks_dir)
    for slug in slugs(folder):
        for profile in PROFILES:
            path = params_file(slug, profile, folder)
            if profile != "smoke" and not path.is_file():
                continue
            try:
                job = prepare(slug, profile, out_root=out_root, notebooks_dir=folder)
                state = job.status()
            except MissingRun as e:
                state = f"waiting: {e}"
            except RunnerError as e:
                state = f"error: {e}"
            shown = show(path) if path.is_file() else "(notebook defaults)"
            rows.append((slug, profile, shown, state))
    return rows
