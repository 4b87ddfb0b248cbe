"""What a step costs: the compute chapter's reading of ``benchmarks/gpu.py``'s files.

``benchmarks/gpu.py`` writes one file per device to ``book/results/benchmarks/``: the
machine, the runs that filled it, one row per model and setting (``eager`` or
``compiled`` × ``fp32`` or ``bf16``) and, with ``--fit-check``, each chapter's smoke
experiment trained on that device. This module reads them and lays them out as the
chapter's tables; it measures nothing itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vidlib.record import RecordError, profile_record, read_params_file
from vidlib.results import ROOT

BENCHMARKS = ROOT / "book" / "results" / "benchmarks"
#: the book's models, in the order they are timed and shown
MODELS = (
    "mocogan",
    "g3an",
    "navs",
    "avlae",
    "tgan",
    "vgan",
    "rjgan",
    "rmocogan",
    "rjvae",
    "dsa",
)
#: the settings of a row, in the order they are timed and shown
SETTINGS = ("eager fp32", "eager bf16", "compiled bf16", "compiled fp32")
#: the chapter whose paper record a model's paper-length run is read from
CHAPTER_OF = {"rjgan": "residual", "rmocogan": "residual"}


#: the paper's batch of the models without a paper record (MoCoGAN's 32 for its
#: residual counterpart; RJVAE takes DSA's Sprites settings, batch 25)
DEFAULT_BATCH = {"mocogan": 32, "rmocogan": 32, "rjvae": 25}
#: the record a model's size comes from, where its slug is not its name
RECORD_OF = {"rjgan": "residual", "rmocogan": "residual", "rjvae": "residual"}


def model_fields(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` restricted to what model ``name``'s config takes, named."""
    from vidlib.method import method_classes  # late: torch and the models

    _, config = method_classes(name)
    known = set(config.__dataclass_fields__)
    return {"name": name} | {k: v for k, v in fields.items() if k in known}


def model_and_batch(name: str, size: str) -> tuple[dict[str, Any], int]:
    """The ``model`` section and batch size model ``name`` is timed at."""
    slug = RECORD_OF.get(name, name)
    if size == "paper" and name in DEFAULT_BATCH:
        return {"name": name}, DEFAULT_BATCH[name]
    record = profile_record(slug, size)
    batch = record.train["batch_size"]
    shared = {"frames": record.data.frames, "resolution": record.data.resolution}
    if name in ("rmocogan", "rjvae"):  # their sections in the residual record
        params = read_params_file(ROOT / "notebooks" / "params" / f"{slug}.{size}.yaml")
        section = params[1].get(name) or {}
        base = record.model if name == "rmocogan" else shared
        return model_fields(name, {**base, **section}), batch
    return dict(record.model), batch


def read_benchmarks(folder: Path = BENCHMARKS) -> list[dict[str, Any]]:
    """Every device's file in ``folder`` (sorted by name), each with its ``file``
    name added; a file that is not such a record raises ``ValueError`` naming it."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            bench = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from error
        missing = {"size", "machine", "runs", "rows"} - set(bench)
        if missing:
            raise ValueError(
                f"{path}: missing {sorted(missing)}; expected a file written by "
                "benchmarks/gpu.py"
            )
        found.append({"file": path.name, **bench})
    return found


def models(bench: dict[str, Any]) -> list[str]:
    """The models of a file's rows, in the order of :data:`MODELS` (others last)."""
    found = dict.fromkeys(row["model"] for row in bench["rows"])
    order = {name: i for i, name in enumerate(MODELS)}
    return sorted(found, key=lambda name: order.get(name, len(order)))


def row_of(bench: dict[str, Any], model: str, setting: str) -> dict[str, Any] | None:
    """The row of ``model`` at ``setting``, or None when it was not run."""
    for row in bench["rows"]:
        if (row["model"], row["setting"]) == (model, setting):
            return row
    return None


def size_of(bench: dict[str, Any], model: str) -> str:
    """``T×H×W, batch B`` of a model's first measured row."""
    for row in bench["rows"]:
        if row["model"] == model and "error" not in row:
            size = f"{row['frames']}×{row['resolution']}×{row['resolution']}"
            return f"{size}, batch {row['batch']}"
    return "not measured"


def table(
    bench: dict[str, Any], key: str, digits: int = 0
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per model, its size and ``key`` of each setting (``not run``,
    or the row's error where it failed); after :data:`SETTINGS`, any other setting
    the file has (``eager fp32 ×N``: on N GPUs, at N times the batch)."""
    others = sorted({row["setting"] for row in bench["rows"]} - set(SETTINGS))
    settings = [*SETTINGS, *others]
    header = ["model", "clip T×H×W, batch", *settings]
    rows = []
    for model in models(bench):
        cells = [model, size_of(bench, model)]
        for setting in settings:
            row = row_of(bench, model, setting)
            if row is None:
                cells.append("not run")
            elif "error" in row:
                cells.append(row["error"][:40])
            else:
                cells.append(f"{row[key]:,.{digits}f}")
        rows.append(cells)
    return header, rows


def read_cpu_settings(
    folder: Path = BENCHMARKS / "cpu_settings",
) -> list[dict[str, Any]]:
    """Every machine's file of ``benchmarks/cpu_settings.py`` (sorted by name), each
    with its ``file`` name added."""
    return [
        {**json.loads(path.read_text()), "file": path.name}
        for path in sorted(Path(folder).glob("*.json"))
    ]


def settings_legend(bench: dict[str, Any]) -> dict[str, str]:
    """What each comparison of a cpu-settings file sets against what: ``B ÷ A``."""
    return {row["comparison"]: f"{row['b']} ÷ {row['a']}" for row in bench["rows"]}


def settings_table(bench: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a cpu-settings file: per model, each comparison's speed-up of
    B over A (above 1: B is faster; :func:`settings_legend` names A and B)."""
    comparisons = list(settings_legend(bench))
    rows = []
    for model in dict.fromkeys(row["model"] for row in bench["rows"]):
        found = {r["comparison"]: r for r in bench["rows"] if r["model"] == model}
        cells = [
            f"{found[c]['speedup']:.2f}×"
            if c in found and "speedup" in found[c]
            else "not run"
            for c in comparisons
        ]
        rows.append([model, *cells])
    return ["model", *comparisons], rows


def ratio(
    bench: dict[str, Any], model: str, key: str, over: str, under: str
) -> float | None:
    """``key`` of ``over`` divided by ``key`` of ``under`` for ``model`` (None when
    either row is missing or failed)."""
    a, b = row_of(bench, model, over), row_of(bench, model, under)
    if a is None or b is None or "error" in a or "error" in b:
        return None
    return a[key] / b[key]


def paper_steps(model: str) -> int | None:
    """``train.steps`` of the paper record of a model's chapter (None without one)."""
    try:
        record = profile_record(CHAPTER_OF.get(model, model), "paper")
    except RecordError:
        return None
    return int(record.train["steps"])


def paper_run_hours(
    bench: dict[str, Any], setting: str = "eager fp32"
) -> list[tuple[str, int, float]]:
    """``(model, steps, hours)``: the paper record's steps times the median step of
    ``setting``, for each model with both (training steps only: no evaluation, no
    sample writing); none for a file of another size than the paper's."""
    if bench["size"] != "paper":
        return []
    out = []
    for model in models(bench):
        row, steps = row_of(bench, model, setting), paper_steps(model)
        if row is not None and "error" not in row and steps:
            out.append((model, steps, steps * row["train_step_s"] / 3600))
    return out


def fit_rows(bench: dict[str, Any]) -> tuple[list[str], list[Sequence[Any]]]:
    """Header and rows of a file's fit check: per chapter, its status, steps, device
    and seconds (or the error)."""
    check = bench.get("fit_check", {})
    rows = []
    for chapter, entry in check.items():
        if not isinstance(entry, dict):
            continue
        if "error" in entry:
            rows.append([chapter, entry["error"][:60], "", "", ""])
        else:
            rows.append(
                [
                    chapter,
                    entry["status"],
                    entry["steps"],
                    entry["device"],
                    f"{entry['seconds']:.2f}",
                ]
            )
    return ["chapter", "status", "steps", "device", "seconds"], rows


def read_cost_curves(folder: Path = BENCHMARKS / "cost") -> list[dict[str, Any]]:
    """Every device's file of ``benchmarks/cost_curves.py`` (sorted by name), each
    with its ``file`` name added."""
    return [
        {"file": path.name, **json.loads(path.read_text())}
        for path in sorted(Path(folder).glob("*.json"))
    ]


def curve(
    costs: dict[str, Any], model: str, axis: str
) -> tuple[list[int], list[float]]:
    """The values of ``axis`` and the step times measured there for ``model``
    (points a config refused left out)."""
    rows = [
        r
        for r in costs["rows"]
        if (r["model"], r["axis"]) == (model, axis) and "train_step_s" in r
    ]
    return [r["value"] for r in rows], [r["train_step_s"] for r in rows]


def own_size_times(costs: dict[str, Any], model: str) -> list[float]:
    """The step times of ``model`` measured at its cpu record's own resolution,
    frames and batch (once per axis of the cost curves)."""
    record = profile_record(CHAPTER_OF.get(model, model), "cpu")
    own = {
        "resolution": record.data.resolution,
        "frames": record.data.frames,
        "batch": record.train["batch_size"],
    }
    return [
        r["train_step_s"]
        for r in costs["rows"]
        if r["model"] == model and "train_step_s" in r and r["value"] == own[r["axis"]]
    ]


def navs_dataset_curve(bench: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """``{"sparse": [(videos, s/step), ...], "dense": [...]}`` from the rows of
    ``benchmarks/navs_step.py``'s file whose setting names a number of videos."""
    found: dict[str, list[tuple[int, float]]] = {"sparse": [], "dense": []}
    for row in bench["rows"]:
        match = re.search(r"(\d+) videos.*\b(sparse|dense) latent", row["setting"])
        if match:
            found[match[2]].append((int(match[1]), row["seconds_per_step"]))
    return found


def parameters(model: dict[str, Any]) -> int:
    """How many parameters the nets of a record's ``model`` section hold (built on the
    meta device: nothing is allocated or trained)."""
    import torch

    from vidlib.method import build  # late: torch and the models

    with torch.device("meta"):
        method = build(model, untrained=True)
    params = {id(p): p for net in method.nets.values() for p in net.parameters()}
    return sum(p.numel() for p in params.values())


def training_seconds(results: dict[str, Any]) -> float | None:
    """The wall time a run's training took: its ``train_seconds_per_step`` (the fit's
    wall time from its checkpoints, over the steps) times its record's steps."""
    entry = results["metrics"].get("train_seconds_per_step", {})
    per_step = entry.get("value")
    return None if per_step is None else per_step * results["record"]["train"]["steps"]


def results_table(
    runs: dict[str, Sequence[Any]],
    folder: Path = BENCHMARKS,
    name_of: Callable[[str], str] = str,
) -> tuple[list[str], list[list[str]], list[str]]:
    """The results chapter's compute table: per model (``runs``: model → its seed runs,
    each with ``results``), its parameters at the cpu size (its runs' record) and the
    paper's size, the eager fp32 step time and sampling rate of each benchmark file
    (columns lettered A, B, …), and the mean training time of its seed runs; and the
    legend: one line per letter naming the file, size and machine."""
    benches = read_benchmarks(folder)
    letters = [chr(ord("A") + i) for i in range(len(benches))]
    header = ["model", "params, cpu size", "params, paper size"]
    for letter in letters:
        header += [f"step s, {letter}", f"clips/s, {letter}"]
    header.append("training s of a run")
    rows = []
    for model, found in runs.items():
        record = found[0].results["record"]
        paper_model = model_and_batch(model, "paper")[0]
        cells = [
            name_of(model),
            f"{parameters(record['model']):,}",
            f"{parameters(paper_model):,}",
        ]
        for bench in benches:
            row = row_of(bench, model, "eager fp32")
            if row is None or "error" in row:
                cells += ["not measured", "not measured"]
            else:
                cells += [
                    f"{row['train_step_s']:.3g}",
                    f"{row['sample_clips_per_s']:,.0f}",
                ]
        walls = [training_seconds(r.results) for r in found]
        walls = [w for w in walls if w is not None]
        cells.append(f"{sum(walls) / len(walls):.0f}" if walls else "—")
        rows.append(cells)
    legend = []
    for letter, bench in zip(letters, benches, strict=True):
        machine = bench["machine"]
        host = ", ".join(
            part
            for part in (machine.get("cpu"), f"{machine['cpu_cores']} CPU cores")
            if part
        )
        legend.append(
            f"{letter}: {bench['size']} size on {machine['device']} ({host}, torch"
            f" {machine['torch']}), eager fp32, {bench['file']}, {len(bench['runs'])}"
            " run(s)"
        )
    legend.append(
        "training s of a run: the mean over its seed runs of the wall time its"
        " training took (as its checkpoints record it, whether that run trained or"
        " loaded them; evaluation not included)"
    )
    return header, rows, legend
