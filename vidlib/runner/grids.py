"""Ablation grids: ``notebooks/params/<slug>.<profile>.grid.yaml``.

The file names variants (record overrides, nested or ``section.key``) and optionally
seeds. Each variant (× seed) is one :func:`vidlib.experiment.run_experiment` of the
profile's record with the variant's overrides and ``-p``'s, into
``<run dir>/grid/<variant>[-seed<k>]/`` (no notebook); the runner adds ``variant``,
``inputs_hash`` and ``wall_time_s`` to its ``results.json`` and lists the runs of the
last complete grid, in order, in ``grid/index.json``. The chapter reads them with
:func:`vidlib.results.grid_results` and shows :func:`vidlib.results.grid_table`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidlib.record import SECTIONS, Record, RecordError, nest, split_params
from vidlib.results import (
    GRID_DIR,
    GRID_INDEX,
    RESULTS,
    grid_results,
    read_results_file,
    seal_results,
    write_json,
)
from vidlib.runner import cache
from vidlib.runner.errors import RunFailed, RunnerError, show
from vidlib.runner.notebooks import notebooks_folder, read_notebook
from vidlib.runner.params import read_yaml, resolve

if TYPE_CHECKING:  # cluster imports this module
    from vidlib.runner.cluster import Cluster

START_DIR = "start"  # where a grid run that fine-tunes trains the run it starts from
GRID_FORMAT = (
    "a YAML mapping with 'variants' (name: {section.key: value, ...}) and optionally"
    " 'seeds' (a list of ints)"
)


@dataclass(frozen=True)
class GridRun:
    """One validated run of a grid: a variant with one of the seeds."""

    slug: str
    profile: str
    variant: str
    seed: int | None  # None: the profile's seed
    origin: str  # the grid file and variant, named in messages
    record: Record
    run_dir: Path
    inputs_hash: str
    start: Record | None = (
        None  # trained first, in <run_dir>/start; record starts there
    )

    @property
    def name(self) -> str:
        """Its folder under ``<run dir>/grid/``."""
        return self.run_dir.name

    @property
    def label(self) -> str:
        """How progress lines name it."""
        return f"{self.slug} [{self.profile}] grid {self.name}"

    def up_to_date(self) -> bool:
        """Whether its ``results.json`` is that of its inputs (it need not run)."""
        return cache.status(self.run_dir, self.inputs_hash) == "up to date"


def grid_file(slug: str, profile: str, folder: Path | None = None) -> Path:
    """``notebooks/params/<slug>.<profile>.grid.yaml``."""
    return notebooks_folder(folder) / "params" / f"{slug}.{profile}.grid.yaml"


def read_grid(path: Path) -> list[tuple[str, int | None, dict[str, Any]]]:
    """(variant, seed, nested record overrides) of every run ``path`` asks for."""
    data, where = read_yaml(path, GRID_FORMAT), show(path)
    if unknown := sorted(set(data) - {"variants", "seeds"}):
        raise RunnerError(
            f"{where}: unknown key(s) {unknown}; it must be {GRID_FORMAT}"
        )
    variants = data.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise RunnerError(f"{where}: 'variants' must be a non-empty mapping")
    seeds = data.get("seeds", [None])
    if (
        not isinstance(seeds, list)
        or not seeds
        or seeds != [None]
        and not all(type(s) is int for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise RunnerError(f"{where}: 'seeds' must be a list of distinct ints")
    runs = []
    for variant, overrides in variants.items():
        origin = f"{where}, variant {variant}"
        if not re.fullmatch(r"[A-Za-z0-9_.]+", str(variant)):
            raise RunnerError(
                f"{where}: variant name {variant!r} may only use letters, digits, _ ."
            )
        if not isinstance(overrides, dict | None):
            raise RunnerError(
                f"{origin} must map section.key: value, got {overrides!r}"
            )
        try:
            nested, knobs = split_params(overrides or {}, origin)
        except RecordError as e:
            raise RunnerError(str(e)) from None
        if knobs:
            raise RunnerError(
                f"{origin}: {next(iter(knobs))!r} is not a record setting; a grid run"
                f" is run_experiment(record), so vary {', '.join(SECTIONS)} keys"
                " (section.key or nested)"
            )
        if "seed" in (nested.get("train") or {}) and "seeds" in data:
            raise RunnerError(f"{origin} sets train.seed; use 'seeds'")
        for seed in seeds:
            seeded = {} if seed is None else {"train.seed": seed}
            runs.append((str(variant), seed, {**overrides_of(nested), **seeded}))
    return runs


def overrides_of(nested: Mapping[str, Any]) -> dict[str, Any]:
    """Nested overrides as dotted names (one level: ``section.key``)."""
    return {
        f"{section}.{key}" if isinstance(values, Mapping) else section: value
        for section, values in nested.items()
        for key, value in (
            values.items() if isinstance(values, Mapping) else [(None, values)]
        )
    }


def prepare_grid(
    slug: str,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: Path | None = None,
    out_root: Path | None = None,
) -> list[GridRun]:
    """Validate every run of ``<slug>.<profile>.grid.yaml`` (``-p`` record settings
    apply to all of them; chapter knobs only to the notebook)."""
    path = grid_file(slug, profile, notebooks_dir)
    if not path.is_file():
        raise RunnerError(f"no grid for {slug!r} at profile {profile!r}: {show(path)}")
    notebook = read_notebook(slug, notebooks_dir)
    if notebook.record is None:
        raise RunnerError(
            f"{show(path)}: grid runs train a record, but {show(notebook.source)}"
            " declares no 'record' parameter"
        )
    runs = read_grid(path)
    varied = {name for _, _, o in runs for name in o}
    try:
        given = set(overrides_of(nest(overrides or {}, "-p")))
    except RecordError as e:
        raise RunnerError(str(e)) from None
    if clash := sorted(varied & given):
        raise RunnerError(
            f"-p {', '.join(clash)}: the grid {show(path)} varies"
            f" {'it' if len(clash) == 1 else 'them'}; edit the grid file instead"
        )
    main_dir = cache.out_root(out_root) / profile / slug
    prepared = []
    for variant, seed, varies in runs:
        origin = f"{show(path)}, variant {variant}"
        params = resolve(
            notebook,
            profile,
            overrides,
            folder=notebooks_folder(notebooks_dir),
            variant=(origin, varies),
        )
        record = params.record
        name = variant if seed is None else f"{variant}-seed{seed}"
        digest = cache.inputs_hash({"record": record.as_dict(), "profile": profile}, [])
        prepared.append(
            GridRun(
                slug,
                profile,
                variant,
                seed,
                origin,
                record,
                main_dir / GRID_DIR / name,
                digest,
            )
        )
    return prepared


def execute_grid_run(run: GridRun, force: bool = False) -> dict[str, Any]:
    """``run_experiment`` of one grid run unless it is up to date; its results."""
    from vidlib.experiment import run_experiment  # late: torch, the models

    results = run.run_dir / RESULTS
    if not force and run.up_to_date():
        print(f"{run.label}: up to date ({show(results)}); --force reruns")
        return read_results_file(results)
    print(f"{run.label}: running -> {show(run.run_dir)}", flush=True)
    began = time.perf_counter()
    try:
        source = None
        if run.start is not None:  # no slug: its results are the fine-tuned run's
            source = run_experiment(run.start, run.run_dir / START_DIR)
        run_experiment(
            run.record,
            run.run_dir,
            slug=run.slug,
            profile=run.profile,
            start_from=source,
        )
    except Exception as e:
        raise RunFailed(
            f"{run.origin} [{run.profile}] failed: {type(e).__name__}: {e}"
        ) from e
    wall = time.perf_counter() - began
    written = read_results_file(results)
    written.update(
        variant=run.variant, inputs_hash=run.inputs_hash, wall_time_s=round(wall, 2)
    )
    if run.start is not None:
        written["start_record"] = run.start.as_dict()
    written = seal_results(results, written)
    print(f"{run.label}: done in {wall:.1f} s -> {show(results)}")
    return written


def run_grid(
    runs: Sequence[GridRun],
    force: bool = False,
    jobs: int = 1,
    cluster: Cluster | None = None,
) -> list[dict[str, Any]]:
    """Execute a grid's runs, ``jobs`` at a time in processes of their own (each with
    ``cores // jobs`` threads, each resuming from its own checkpoints), or each as a
    job of ``cluster`` (:mod:`vidlib.runner.cluster`); then record them in
    ``<run dir>/grid/index.json``. After a failure no new run starts, the running ones
    finish, the first failure is raised and no index is written (on a cluster every
    job runs, and every failure is raised)."""
    if cluster is not None:
        results = cluster.run_jobs(runs, force=force)
    elif jobs > 1 and len(runs) > 1:
        results = _run_side_by_side(runs, force, jobs)
    else:
        results = [execute_grid_run(run, force=force) for run in runs]
    if runs:
        index = runs[0].run_dir.parent / GRID_INDEX
        write_json(index, {"runs": [run.name for run in runs]})
    return results


def kernel_threads(jobs: int) -> int:
    """Threads each of ``jobs`` processes side by side gets: ``cores // jobs``."""
    return max(1, (os.cpu_count() or 1) // jobs)


def limit_threads(threads: int) -> None:
    """At most ``threads`` threads for torch here and for kernels started from here
    (``OMP_NUM_THREADS``); torch is not imported for it."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def execute_with_threads(run: GridRun, force: bool, threads: int) -> dict[str, Any]:
    """:func:`execute_grid_run` in a process of its own with ``threads`` threads."""
    limit_threads(threads)
    return execute_grid_run(run, force=force)


def _run_side_by_side(
    runs: Sequence[GridRun], force: bool, jobs: int
) -> list[dict[str, Any]]:
    """The runs' results, in order, from ``jobs`` processes at a time."""
    threads = kernel_threads(jobs)
    spawn = multiprocessing.get_context("spawn")
    results: dict[int, dict[str, Any]] = {}
    failures: list[BaseException] = []
    with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
        pending = {
            pool.submit(execute_with_threads, run, force, threads): i
            for i, run in enumerate(runs)
        }
        for future in as_completed(pending):
            if future.cancelled():
                continue
            if future.exception() is not None:
                failures.append(future.exception())
                for waiting in pending:
                    waiting.cancel()  # one not started yet never starts
            else:
                results[pending[future]] = future.result()
    if failures:
        raise failures[0]
    return [results[i] for i in range(len(runs))]


def grid_inputs(run_dir: Path) -> str:
    """What a main run depends on from its grid: each grid run's inputs hash."""
    with suppress(ValueError, KeyError):
        runs = grid_results(run_dir)
        return json.dumps(
            [(r.get("variant"), r["seed"], r["inputs_hash"]) for r in runs]
        )
    return ""
