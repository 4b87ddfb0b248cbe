"""Where runs go and when they are up to date.

A run is skipped while its *inputs hash* is the one its ``results.json`` stores: the
hash of the notebook source, the merged parameters (the record with its defaults
filled in), every ``vidlib/**/*.py``, and what else the run reads (the needed runs'
results, the grid's runs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from vidlib.results import PACKAGE_DIR, RESULTS, ROOT, ResultsError, read_results_file

OUT_ROOT = ROOT / "_runs"  # the default: run dirs are <out root>/<profile>/<slug>


def out_root(path: Path | None = None) -> Path:
    return Path(path or OUT_ROOT).resolve()


def inputs_hash(
    params: Mapping[str, Any], sources: Iterable[bytes], *extra: Any
) -> str:
    """sha256 of ``sources`` (file contents), ``params``, ``extra`` (JSON) and the
    vidlib package's Python files."""
    digest = hashlib.sha256()
    for data in sources:
        digest.update(hashlib.sha256(data).digest())
    digest.update(json.dumps([params, *extra], sort_keys=True, default=str).encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def status(run_dir: Path, inputs_hash: str, executed: Path | None = None) -> str:
    """ "up to date", "stale", "failed" (the notebook ``executed`` raised) or
    "missing"."""
    results = run_dir / RESULTS
    if executed is not None and executed.is_file() and failed(executed):
        return "failed"
    if not results.is_file() or executed is not None and not executed.is_file():
        return "missing"
    with suppress(ResultsError):  # unreadable or edited by hand: run it again
        if read_results_file(results).get("inputs_hash") == inputs_hash:
            return "up to date"
    return "stale"


def failed(notebook: Path) -> bool:
    """Whether papermill recorded an exception in the executed ``notebook``."""
    try:
        return bool(
            json.loads(notebook.read_text())["metadata"]["papermill"]["exception"]
        )
    except (ValueError, KeyError):
        return True
