"""What a run leaves behind: ``results.json`` and the paths a notebook needs.

:func:`write_results` validates and atomically writes a run's results record: slug,
profile, seed, the experiment ``record`` (see :mod:`vidlib.record`), the chapter's
other ``params``, ``metrics`` (each ``{"value", "protocol", ...}``), ``artifacts`` and
provenance (device, versions, git SHA, time). :func:`resolve_out_dir` is the folder a
notebook writes into. The runner (:mod:`vidlib.runner`) adds its own keys afterwards.
"""

from __future__ import annotations

import json
import numbers
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent  # the repository (vidlib is installed editable)
RESULTS = "results.json"
OUT_ROOT_ENV = "VIDLIB_OUT_ROOT"  # see resolve_out_dir


class ResultsError(ValueError):
    """A results record that cannot be written as given."""


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """The ``results.json`` of ``run_dir``; a clear error when there is none."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise ResultsError(f"{path} not found: that run has not finished")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ResultsError(f"{path} is not valid JSON ({e}); rerun that run") from e


def provenance() -> dict[str, Any]:
    """Device, versions (python, torch, numpy, vidlib), git SHA, UTC creation time."""
    from vidlib import __version__

    versions = {"python": platform.python_version(), "vidlib": __version__}
    device = "cpu"
    try:
        import torch

        versions["torch"] = torch.__version__
        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    except ImportError:
        versions["torch"] = None
    try:
        import numpy

        versions["numpy"] = numpy.__version__
    except ImportError:
        versions["numpy"] = None
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "device": device,
        "versions": versions,
        "git_sha": git_sha(),
        "created": now,
    }


def git_sha(repo: Path = ROOT) -> str:
    """``git rev-parse HEAD`` (+ ``-dirty`` if tracked files changed), or "unknown"."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)

    try:
        head, changes = git("rev-parse", "HEAD"), git("status", "--porcelain", "-uno")
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if changes.stdout.strip() else "")


def write_results(
    out_dir: str | Path,
    *,
    slug: str,
    profile: str,
    seed: int,
    record: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Mapping[str, Any]],
    artifacts: Mapping[str, str | Path] | Sequence[str | Path] = (),
    device: str | None = None,
) -> dict[str, Any]:
    """Validate and atomically write ``<out_dir>/results.json``; return the record.

    ``metrics`` maps a name to ``{"value": float | None, "protocol": str, ...}`` (extra
    keys are primitives; ``None`` means unavailable). ``artifacts`` (a list, or a dict
    name -> path) are files or folders under ``out_dir``, stored relative to it.
    ``device`` overrides the detected one (``cpu`` or the CUDA device name).
    """
    out = Path(out_dir)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ResultsError(f"write_results: seed must be an int, got {seed!r}")
    record = {
        "slug": slug,
        "profile": profile,
        "seed": seed,
        "record": _jsonable(dict(record or {})),
        "params": _jsonable(dict(params or {})),
        "metrics": {str(k): _check_metric(k, v) for k, v in metrics.items()},
        "artifacts": _check_artifacts(out, artifacts),
        **provenance(),
    }
    record["device"] = device or record["device"]
    write_json(out / RESULTS, record)
    return record


def _check_metric(name: str, metric: Any) -> dict[str, Any]:
    where = f"write_results: metric {name!r}"
    if not isinstance(metric, Mapping) or not {"value", "protocol"} <= set(metric):
        raise ResultsError(f"{where} must be a dict with 'value' and 'protocol' keys")
    if not isinstance(metric["protocol"], str) or not metric["protocol"]:
        raise ResultsError(f"{where}: 'protocol' must be a non-empty str")
    value = metric["value"]
    if hasattr(value, "item") and not isinstance(value, numbers.Real):
        value = value.item()  # numpy / torch scalar
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ResultsError(f"{where}: 'value' must be a real number, got {value!r}")
        if not abs(value) < float("inf"):
            raise ResultsError(f"{where}: 'value' is {value}; use None for unavailable")
        value = float(value)
    entry = {**metric, "value": value}
    for key, extra in entry.items():
        if not isinstance(extra, str | int | float | bool | None):
            raise ResultsError(f"{where}: {key!r} must be a primitive, got {extra!r}")
    return entry


def _check_artifacts(out: Path, artifacts: Any) -> dict[str, str] | list[str]:
    def relative(path: str | Path) -> str:
        p = Path(path)
        if p.is_absolute():
            if not p.resolve().is_relative_to(out.resolve()):
                raise ResultsError(f"write_results: artifact {p} is not under {out}")
            p = p.resolve().relative_to(out.resolve())
        if not (out / p).exists():
            raise ResultsError(f"write_results: artifact {p} does not exist in {out}")
        return p.as_posix()

    if isinstance(artifacts, Mapping):
        return {str(k): relative(v) for k, v in artifacts.items()}
    if isinstance(artifacts, str | Path):
        raise ResultsError("write_results: artifacts must be a list or dict of paths")
    return [relative(v) for v in artifacts]


def _jsonable(value: Any) -> Any:
    def primitive(x: Any) -> Any:
        if isinstance(x, Path):
            return str(x)
        if hasattr(x, "item"):
            return x.item()
        raise TypeError(f"{x!r} ({type(x).__name__})")

    try:
        return json.loads(json.dumps(value, allow_nan=False, default=primitive))
    except (TypeError, ValueError) as e:
        raise ResultsError(
            f"write_results: record or params is not JSON-serialisable: {e}"
        ) from e


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically: a temp file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def find_root(start: Path | None = None) -> Path:
    """The nearest folder holding ``_config.yml``, walking up from ``start`` (cwd)."""
    start = (start or Path.cwd()).resolve()
    roots = (d for d in (start, *start.parents) if (d / "_config.yml").is_file())
    return next(roots, start)


def resolve_out_dir(out_dir: str, slug: str) -> Path:
    """The notebook's output folder, created; a relative one starts at the repo root.

    If the environment variable ``VIDLIB_OUT_ROOT`` is set, output goes to
    ``$VIDLIB_OUT_ROOT/<slug>`` instead (``make test`` sets it so that nbval's
    re-execution does not overwrite the runner's results; the runner unsets it).
    """
    redirect = os.environ.get(OUT_ROOT_ENV)
    path = Path(redirect) / slug if redirect else Path(out_dir).expanduser()
    path = path if path.is_absolute() else find_root() / path
    path.mkdir(parents=True, exist_ok=True)
    return path
