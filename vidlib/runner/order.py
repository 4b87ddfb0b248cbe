"""Chapters that read other chapters' runs: ordering by ``needs``, and the runs needed.

A chapter's front matter ``vidlib: needs: [mocogan]`` says that it reads the run
``<out root>/<profile>/mocogan``. :func:`ordered` puts every chapter after the ones it
needs (otherwise keeping the given order) and refuses a cycle;
:func:`needed_runs` finds the needed runs' ``results.json`` for the cache key, or says
which run is missing and how to make it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vidlib.hints import did_you_mean
from vidlib.results import RESULTS, ResultsError, read_results_file
from vidlib.runner.cache import OUT_ROOT
from vidlib.runner.errors import MissingRun, RunnerError, show
from vidlib.runner.notebooks import read_needs, slugs, source


def needs_of(slug: str, folder: Path | None = None) -> tuple[str, ...]:
    """The slugs ``notebooks/<slug>.md`` needs; each must be a notebook."""
    path = source(slug, folder)
    needs = read_needs(path)
    known = slugs(folder)
    for need in needs:
        if need not in known:
            hint = did_you_mean(need, known).strip()
            hint = f"; {hint}" if hint else ""
            raise RunnerError(
                f"{show(path)}: vidlib.needs names {need!r}, which is not a notebook"
                f"{hint} (available: {', '.join(known)})"
            )
    return needs


def ordered(names: Sequence[str], folder: Path | None = None) -> list[str]:
    """``names`` with every chapter after those it needs (stable otherwise); a cycle
    among the needs reachable from ``names`` is refused, naming it."""
    chosen, done, order = set(names), set(), []

    def visit(slug: str, path: list[str]) -> None:
        if slug in path:
            cycle = " -> ".join([*path[path.index(slug) :], slug])
            raise RunnerError(f"the chapters' needs form a cycle: {cycle}")
        if slug in done:
            return
        for need in needs_of(slug, folder):
            visit(need, [*path, slug])
        done.add(slug)
        if slug in chosen:
            order.append(slug)

    for name in names:
        visit(name, [])
    return order


def needed_runs(
    slug: str, needs: Sequence[str], profile: str, out_root: Path
) -> list[tuple[str, str, str]]:
    """(slug, inputs_hash, created) of each needed run's ``results.json``: what a
    needing chapter's cache key includes. A missing run raises :class:`MissingRun`
    naming it and the command that makes it."""
    found = []
    for need in needs:
        path = out_root / profile / need / RESULTS
        if not path.is_file():
            raise MissingRun(
                f"{slug} needs the {need} run at profile {profile!r}, but"
                f" {show(path)} does not exist; make it with: python -m vidlib.runner"
                f" run {need} --profile {profile}"
                + (f" --out-root {show(out_root)}" if out_root != OUT_ROOT else "")
            )
        try:
            results = read_results_file(path)
        except ResultsError as e:
            raise RunnerError(str(e)) from e
        found.append((need, results.get("inputs_hash", ""), results.get("created", "")))
    return found
