"""What a run leaves behind: ``results.json`` and the paths a notebook needs.

:func:`write_results` validates and atomically writes a run's results record: slug,
profile, seed, the experiment ``record`` (see :mod:`vidlib.record`), the chapter's
other ``params``, ``metrics`` (each ``{"value", "protocol", ...}``), ``artifacts`` and
provenance (device, versions, git SHA, time). :func:`resolve_out_dir` is the folder a
notebook writes into. The runner (:mod:`vidlib.runner`) adds its own keys afterwards.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent  # the repository (vidlib is installed editable)
RESULTS = "results.json"
OUT_ROOT_ENV = "VIDLIB_OUT_ROOT"  # see resolve_out_dir
GRID_DIR = "grid"
GRID_INDEX = "index.json"  # the variant folders of the last complete grid run, in order


class ResultsError(ValueError):
    """A results record that cannot be written as given."""


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """The ``results.json`` of ``run_dir`` (:func:`read_results_file`)."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise ResultsError(f"{path} not found: that run has not finished")
    return read_results_file(path)


def read_results_file(path: str | Path) -> dict[str, Any]:
    """A results file as :func:`write_results` sealed it. A file that is not JSON,
    lacks its metrics, or whose content no longer matches its ``digest`` (edited by
    hand) raises ResultsError naming it: rerun the run to rewrite it."""
    path = Path(path)
    rerun = "rerun that run to rewrite it"
    try:
        results = json.loads(path.read_text())
    except ValueError as e:
        raise ResultsError(f"{path} is not valid JSON ({e}); {rerun}") from e
    except OSError as e:
        raise ResultsError(f"{path} cannot be read ({e.strerror}); {rerun}") from e
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict):
        raise ResultsError(
            f"{path} holds no 'metrics' mapping: expected a results file written by "
            f"vidlib.results.write_results; {rerun}"
        )
    if "digest" not in results:
        raise ResultsError(
            f"{path} has no digest: it was not written by vidlib; {rerun}"
        )
    if results["digest"] != digest(results):
        raise ResultsError(
            f"{path} was changed after vidlib wrote it (its content no longer matches "
            f"its digest): the numbers in it cannot be trusted; {rerun}"
        )
    return results


def digest(results: Mapping[str, Any]) -> str:
    """SHA-256 of a results record without its ``digest`` key (canonical JSON)."""
    body = {key: value for key, value in results.items() if key != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def seal_results(path: Path, results: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``results`` to ``path`` (atomically) with its :func:`digest`, and
    return what was written: how every results file is written, so that
    :func:`read_results_file` notices edits."""
    body = _jsonable({key: value for key, value in results.items() if key != "digest"})
    sealed = {**body, "digest": digest(body)}
    write_json(path, sealed)
    return sealed


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
    return seal_results(out / RESULTS, record)


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
    """Write JSON atomically (:func:`atomic_file`), indented, NaN refused."""
    with atomic_file(path) as f:
        json.dump(data, f, indent=2, allow_nan=False)
        f.write("\n")


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically (:func:`atomic_file`)."""
    with atomic_file(path) as f:
        f.write(text)


@contextmanager
def atomic_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text handle on a temp file in ``path``'s folder that replaces ``path``
    (``os.replace``) when the block ends without error and is deleted otherwise; the
    temp files of writes a killed process left behind are deleted first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for unfinished in path.parent.glob(f".{path.name}.*.tmp"):
        unfinished.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
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


# ------------------------------------------------------------------ grids
def grid_results(out_dir: str | Path) -> list[dict[str, Any]]:
    """The results of the last complete grid run under ``out_dir`` (a main run's
    folder), in the grid file's order; ``[]`` when none has run."""
    grid = Path(out_dir) / GRID_DIR
    index = grid / GRID_INDEX
    if not index.is_file():
        return []
    results = []
    for folder in json.loads(index.read_text())["runs"]:
        path = grid / folder / RESULTS
        if not path.is_file():
            raise ResultsError(f"{index} lists {folder} but {path} is gone")
        results.append(read_results_file(path))
    return results


def grid_table(
    results: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    variants: Sequence[str] | None = None,
) -> str:
    """A markdown table: a row per variant, mean ± std over its seeds per metric.

    A ``settings`` column shows the parameters that differ between the rows; footnote
    lines give each metric's protocol and the seeds. ``None`` values read "n/a".
    """
    runs: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        runs.setdefault(r.get("variant") or "(main)", []).append(r)
    order = list(variants or runs)
    if missing := [v for v in order if v not in runs]:
        raise ResultsError(
            f"no grid results for variant(s) {missing}; have {list(runs)}"
        )
    ignored = {"seed", "out_dir", "profile", "train.seed"}
    params = [_flatten(_settings(r)) for r in results]
    varying = sorted(
        name
        for name in {n for p in params for n in p} - ignored
        if len({json.dumps(p.get(name), default=str) for p in params}) > 1
    )
    lines = [
        "| variant | settings | " + " | ".join(f"`{m}`" for m in metrics) + " |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    protocols: dict[str, str] = {}
    for variant in order:
        first = _flatten(_settings(runs[variant][0]))
        settings = ", ".join(f"{n}={first.get(n)}" for n in varying) or "-"
        cells = []
        for metric in metrics:
            entries = [r["metrics"].get(metric) for r in runs[variant]]
            if any(e is None for e in entries):
                raise ResultsError(
                    f"variant {variant!r} did not record metric {metric!r}"
                )
            protocols.setdefault(metric, entries[0]["protocol"])
            cells.append(_mean_std([e["value"] for e in entries]))
        lines.append(f"| {variant} | {settings} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in results})
    lines += ["", f"Seeds: {', '.join(map(str, seeds))} (mean ± std over seeds)."]
    lines += [f"`{m}`: {p}." for m, p in protocols.items()]
    return "\n".join(lines)


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter dicts as dotted names ({"model": {"ngf": 8}} -> model.ngf)."""
    flat: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{name}.")
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _mean_std(values: Sequence[float | None]) -> str:
    if any(v is None for v in values):
        return "n/a"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.4g} ± {std:.2g}"


def _settings(results: Mapping[str, Any]) -> dict[str, Any]:
    """What a run was asked to do: its record and its chapter parameters."""
    return {**results.get("params", {}), **results.get("record", {})}


def needed_run(out_dir: str | Path, slug: str) -> Path:
    """The run folder of chapter ``slug`` at the same profile as the run in
    ``out_dir`` (run folders are ``<out root>/<profile>/<slug>``)."""
    return Path(out_dir).parent / slug


def record_summary(
    record: Any, profile: str, slug: str, seed: int | None = None
) -> Any:
    """One line for the rendered chapter (profile, seed, params file) and the whole
    record in a collapsed block, as IPython Markdown. ``seed`` defaults to the
    record's ``train.seed`` (a chapter that trains nothing gives its own)."""
    import yaml
    from IPython.display import Markdown

    values = record.as_dict() if hasattr(record, "as_dict") else dict(record)
    params = f"notebooks/params/{slug}.{profile}.yaml"
    # the built book has the params files at its root (vidlib.runner.build), two
    # levels above book/generated/<slug>.html
    source = (
        f'<a href="../../params/{slug}.{profile}.yaml"><code>{params}</code></a>'
        if profile != "smoke"
        else f"the parameters cell of `notebooks/{slug}.md`"
    )
    if seed is None:
        seed = values.get("train", {}).get("seed", 0)
    text = yaml.safe_dump(values, sort_keys=False, default_flow_style=None)
    line = f"**Run record**: profile `{profile}` · seed {seed} · from {source}"
    block = f"```yaml\n{text}```"
    return Markdown(
        f"{line}\n\n<details><summary>the whole record</summary>\n\n{block}\n\n"
        "</details>"
    )
