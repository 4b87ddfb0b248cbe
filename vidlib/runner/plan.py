"""What one command runs: chapters in the order of their needs, grids first.

Every run of a command is validated before the first one executes, so bad input
(a params file, ``-p``, a grid file, a missing needed run, a cycle) stops it with
nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vidlib.runner.errors import MissingRun, RunnerError, show
from vidlib.runner.grids import grid_file, prepare_grid, run_grid
from vidlib.runner.jobs import execute, prepare
from vidlib.runner.notebooks import notebooks_folder, slugs
from vidlib.runner.order import ordered
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
) -> list[str]:
    """Run ``names`` ordered by their needs; return that order.

    ``grid`` runs only the chapters' grids; ``grids_too`` runs a chapter's grid (if
    its profile has one) before the chapter. Everything is validated first.
    """
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
    for slug, runs in plan:
        if runs:
            run_grid(runs, force=force)
        if not grid:  # prepared again: its inputs include what ran before it
            execute(prepare(slug, profile, overrides, **kwargs), force=force)
    return order


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
