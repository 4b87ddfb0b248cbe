"""One chapter run: validate it (:func:`prepare`), execute it with papermill
(:func:`execute`).

The run dir is ``<out root>/<profile>/<slug>/``; papermill injects ``profile``,
``out_dir`` (that dir, absolute), ``record`` (the merged record overrides) and the
chapter knobs, and executes into ``<run dir>/<slug>.ipynb``. The notebook writes
``results.json`` (``Experiment.write_results`` or :func:`vidlib.results.write_results`);
the runner then adds ``inputs_hash``, ``wall_time_s``, ``notebook`` and the knobs
under ``params``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from vidlib.results import OUT_ROOT_ENV, RESULTS, ROOT, read_results_file, seal_results
from vidlib.runner import cache
from vidlib.runner.errors import RunFailed, show
from vidlib.runner.grids import grid_file, grid_inputs
from vidlib.runner.notebooks import Notebook, notebooks_folder, read_notebook
from vidlib.runner.order import needed_runs, needs_of
from vidlib.runner.params import Params, has_profile, resolve


@dataclass
class Job:
    """A validated chapter run; nothing has been written yet."""

    slug: str
    profile: str
    notebook: Notebook
    params: Params
    run_dir: Path
    inputs_hash: str

    @property
    def executed(self) -> Path:
        return self.run_dir / f"{self.slug}.ipynb"

    @property
    def results(self) -> Path:
        return self.run_dir / RESULTS

    def status(self) -> str:
        return cache.status(self.run_dir, self.inputs_hash, self.executed)


def prepare(
    slug: str,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: Path | None = None,
    out_root: Path | None = None,
    pending: Collection[str] = (),
) -> Job:
    """Validate a run: slug, params file, parameters, record, needed runs.

    A needed run must exist unless it is ``pending`` (to be run first by the same
    command). The inputs hash includes the needed runs' results and, when the
    profile has a grid, the grid file and its runs' inputs, so the chapter reruns
    after either changed.
    """
    folder = notebooks_folder(notebooks_dir)
    notebook = read_notebook(slug, folder)
    params = resolve(notebook, profile, overrides, folder=folder)
    root = cache.out_root(out_root)
    needs = [
        need
        for need in needs_of(slug, folder)
        if need not in pending and has_profile(need, profile, folder)
    ]
    needed = needed_runs(slug, needs, profile, root)
    run_dir = root / profile / slug
    sources = [notebook.source.read_bytes()]
    grid = grid_file(slug, profile, folder)
    if grid.is_file():
        sources.append(grid.read_bytes())
    digest = cache.inputs_hash(
        params.hashed(profile), sources, needed, grid_inputs(run_dir)
    )
    return Job(slug, profile, notebook, params, run_dir, digest)


def execute(job: Job, force: bool = False) -> dict[str, Any]:
    """Execute a prepared job with papermill unless it is up to date; its results."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    label, where = f"{job.slug} [{job.profile}]", show(job.notebook.source)
    if not force and job.status() == "up to date":
        print(f"{label}: up to date ({show(job.results)}); --force reruns")
        return read_results_file(job.results)
    job.run_dir.mkdir(parents=True, exist_ok=True)
    before = _stamp(job.results)
    print(f"{label}: running {where} -> {show(job.executed)}", flush=True)
    start = time.perf_counter()
    # the kernel imports this vidlib (the one hashed) and never redirects out_dir
    pythonpath = [str(ROOT), os.environ.get("PYTHONPATH")]
    kernel_env = {"PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}
    injected = {**job.params.injected(job.profile), "out_dir": str(job.run_dir)}
    try:
        with (
            mock.patch.dict(os.environ, kernel_env),
            tempfile.TemporaryDirectory() as tmp,
        ):
            os.environ.pop(OUT_ROOT_ENV, None)
            source = Path(tmp) / f"{job.slug}.ipynb"
            nbformat.write(job.notebook.nb, source)
            papermill.execute_notebook(
                source,
                job.executed,
                parameters=injected,
                kernel_name="python3",
                cwd=job.run_dir,
                progress_bar=sys.stderr.isatty(),
                log_output=True,
            )
    except PapermillExecutionError as e:
        first_line = (e.source or "").strip().partition("\n")[0][:60]
        raise RunFailed(
            f"{where} [{job.profile}] failed in cell {e.cell_index} ({first_line!r}):"
            f" {e.ename}: {e.evalue}; partially executed notebook: "
            f"{show(job.executed)}"
        ) from e
    except Exception as e:  # the kernel died or could not start, ...
        raise RunFailed(
            f"{where} [{job.profile}] could not be executed: {type(e).__name__}: {e};"
            f" see {show(job.executed)}"
        ) from e
    wall = time.perf_counter() - start
    if _stamp(job.results) in (None, before):
        raise RunFailed(
            f"{where} finished without writing {show(job.results)}; it must end with"
            " exp.write_results(...) or vidlib.results.write_results(out_dir, ...)"
        )
    results = read_results_file(job.results)
    results["params"] = {**results.get("params", {}), **job.params.knobs}
    results.update(
        inputs_hash=job.inputs_hash,
        wall_time_s=round(wall, 2),
        notebook=show(job.executed),
    )
    results = seal_results(job.results, results)
    print(f"{label}: done in {wall:.1f} s -> {show(job.results)}")
    return results


def _stamp(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_ino, path.stat().st_mtime_ns) if path.exists() else None
