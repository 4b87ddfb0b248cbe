"""Recipe studies: a chapter's cpu record with a few settings changed, trained for
longer and judged at every checkpoint, whose results files ship with the book.

The cpu recipes of the chapters (learning rates, R1, step counts) are chosen by such
runs. A study keeps every checkpoint of one training, evaluates each with the
record's metrics, and writes one results file per checkpoint under
``book/results/<slug>/study/<name>/step-<k>/results.json`` (the record with
``train.steps`` set to that step, which is what a run of that length trains, the
metrics, and the provenance: versions, git SHA, the command). A chapter renders
them with :func:`study_table`, so the evidence behind its recipe is computed from
committed files, never typed in::

    python -m vidlib.study mocogan r1 --every 1000 -p model.r1_gamma 0.01 \\
        -p train.steps 8000

A chapter's other model is studied with ``-p model.name``: its record is the one
the chapter builds (:func:`cpu_record`), e.g. RMoCoGAN in the residual chapter::

    python -m vidlib.study residual rmocogan_long --every 1000 \\
        -p model.name rmocogan -p train.steps 8000

Training resumes from the study's own checkpoints in ``_runs/study/<slug>/<name>``;
checkpoints already judged are not judged again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from IPython.display import HTML

from vidlib import checkpoint as ckpt
from vidlib.bar import FD_MULTIPLE, Criterion, bar
from vidlib.data.spec import open_data
from vidlib.experiment import Experiment, evaluate_experiment
from vidlib.method import build
from vidlib.metrics.judges import Judges
from vidlib.record import (
    Record,
    nest,
    parse_record,
    profile_record,
    read_params_file,
)
from vidlib.results import RESULTS, ROOT, read_results_file, write_results
from vidlib.runner.params import add_overrides_option, parse_overrides
from vidlib.train import (
    FitResult,
    checkpoint_config,
    fit,
    run_config,
    seed_everything,
)
from vidlib.viz import html_table

STUDY = "study"
PROFILE = "cpu"  # the profile whose record a study changes
#: train settings that schedule or lay out a run rather than change what it learns
SCHEDULING = (
    "steps",
    "checkpoint_every",
    "keep_checkpoints",
    "sample_every",
    "log_every",
    "progress",
    "num_threads",
    "channels_last",
)


def study_dir(slug: str, name: str, root: Path = ROOT) -> Path:
    """``book/results/<slug>/study/<name>`` of the repository ``root``."""
    return root / "book" / "results" / slug / STUDY / name


def command(slug: str, name: str, overrides: Mapping[str, Any], every: int) -> str:
    """The command line that (re)makes a study."""
    sets = " ".join(f"-p {k} {json.dumps(v)}" for k, v in overrides.items())
    return f"python -m vidlib.study {slug} {name} --every {every} {sets}".rstrip()


def cpu_record(slug: str, model: str | None = None, root: Path = ROOT) -> Record:
    """The cpu record of ``slug``; with ``model``, the record of that model of the
    chapter (:meth:`Record.with_model` with the params file's section named after
    it, e.g. ``rmocogan: {}``, as the chapter builds its other models)."""
    record = profile_record(slug, PROFILE, root)
    if not isinstance(record, Record):
        raise ValueError(f"{slug} trains nothing: it has no recipe to study")
    if model is None or model == record.model["name"]:
        return record
    path = root / "notebooks" / "params" / f"{slug}.{PROFILE}.yaml"
    settings = read_params_file(path)[1].get(model, {})
    if not isinstance(settings, Mapping):
        raise ValueError(
            f"{path}: {model} must be a mapping of that model's settings, "
            f"got {settings!r}"
        )
    return record.with_model(model, settings, f"{path}, {model}")


def study_record(
    slug: str, overrides: Mapping[str, Any], every: int, root: Path = ROOT
) -> Record:
    """The cpu record of ``slug`` with ``overrides``, checkpointed every ``every``
    steps and keeping every checkpoint; an override of ``model.name`` starts from
    that model's record in the chapter (:func:`cpu_record`)."""
    origin = f"study overrides of {slug}"
    model = nest(dict(overrides), origin).get("model", {}).get("name")
    record = cpu_record(slug, model, root)
    record = record.replace(dict(overrides), origin)
    steps = record.train["steps"]
    if every < 1 or steps % every:
        raise ValueError(f"--every must divide train.steps ({steps}), got {every}")
    schedule = {
        "train.checkpoint_every": every,
        "train.keep_checkpoints": 0,  # every one, those of stopped sessions too
        "train.sample_every": 0,
    }
    return record.replace(schedule, "study schedule")


def run_study(
    slug: str,
    name: str,
    overrides: Mapping[str, Any],
    every: int,
    *,
    root: Path = ROOT,
    out_dir: Path | None = None,
    judges: Judges | None = None,
    seconds: float | None = None,
    train: bool = True,
    judge: bool = True,
) -> list[Path]:
    """Train the study (resuming) and judge every checkpoint not judged yet; returns
    the results files of the study, one per checkpoint, in step order. ``seconds``
    bounds this session's training (:func:`vidlib.train.fit`'s ``stop_at``: the step
    it stops at is checkpointed, and judged like the others); ``train=False`` or
    ``judge=False`` leaves out that half, e.g. to train on a GPU and judge on a CPU."""
    record = study_record(slug, overrides, every, root)
    out_dir = out_dir or root / "_runs" / STUDY / slug / name
    checkpoints = out_dir / "train" / "checkpoints"
    if train:
        seed_everything(record.seed)
        data = open_data(record.data, "train", record.seed)
        stop_at = None if seconds is None else time.perf_counter() + seconds
        config = record.train_config(str(out_dir / "train"))
        fit(build(record.model), data, config, stop_at=stop_at)
    if not judge:
        return []
    return judge_checkpoints(slug, name, overrides, every, checkpoints, root, judges)


def judge_checkpoints(
    slug: str,
    name: str,
    overrides: Mapping[str, Any],
    every: int,
    checkpoints: Path,
    root: Path = ROOT,
    judges: Judges | None = None,
) -> list[Path]:
    """Evaluate each checkpoint in ``checkpoints`` (of a training of the study's
    record) that has no results file yet, and write it; returns every results file of
    those checkpoints, in step order."""
    record = study_record(slug, overrides, every, root)
    data = open_data(record.data, "train", record.seed)
    method = build(record.model)
    train = record.train_config(str(checkpoints.parent))
    config = run_config(method, data, train)
    expected = ckpt.config_hash(config)
    written = []
    for step, path in ckpt.list_checkpoints(checkpoints):
        folder = study_dir(slug, name, root) / f"step-{step:06d}"
        written.append(folder / RESULTS)
        if (folder / RESULTS).is_file():
            continue
        payload = ckpt.load_checkpoint(path)
        stored = checkpoint_config(payload["config"], config, method)
        if ckpt.config_hash(stored) != expected:
            raise ValueError(
                f"{path} was trained with other settings than study {name} of {slug}"
                f" asks for ({command(slug, name, overrides, every)})"
            )
        for key, net in method.nets.items():
            net.load_state_dict(payload["nets"][key])
        at_step = record.replace({"train.steps": step}, "study checkpoint")
        trained = payload.get("wall_time_s", 0.0)
        state = FitResult("loaded", step, path.parent, path, "", trained)
        experiment = Experiment(at_step, folder, data, method, state, judges=judges)
        evaluate_experiment(experiment)
        judges = experiment.judges
        write_results(
            folder,
            slug=slug,
            profile=STUDY,
            seed=record.seed,
            record=at_step.as_dict(),
            params={
                "study": name,
                "dataset": data.config["dataset"],
                "overrides": dict(overrides),
                "command": command(slug, name, overrides, every),
            },
            metrics=experiment.metrics,
        )
    return written


def read_studies(slug: str, root: Path = ROOT) -> list[dict[str, Any]]:
    """Every committed study results file of ``slug``, by study name then step."""
    files = sorted((root / "book" / "results" / slug / STUDY).glob(f"*/*/{RESULTS}"))
    return [read_results_file(path) for path in files]


def study_series(
    slug: str, name: str, check: str, root: Path = ROOT, **checks: bool
) -> dict[int, float | None]:
    """One check of the bar (its table column name, e.g. ``"IS shape ÷ real"``) for
    every committed checkpoint of study ``name`` of ``slug``, by step; ``checks`` as
    for :func:`vidlib.bar.bar`. Raises ``ValueError`` naming a missing study or
    check."""
    criteria = _study_criteria(slug, name, check, root, **checks)
    return {step: criterion.value for step, criterion in criteria.items()}


def _study_criteria(
    slug: str, name: str, check: str, root: Path, **checks: bool
) -> dict[int, Criterion]:
    """:func:`study_series`'s check as the bar's criterion (value and whether it is
    met), by step."""
    results = [r for r in read_studies(slug, root) if r["params"]["study"] == name]
    if not results:
        raise ValueError(f"{slug} has no committed study {name!r}")
    series = {}
    for entry in results:
        found = {_short(c.check): c for c in bar(entry["metrics"], **checks)}
        if check not in found:
            raise ValueError(f"the bar has no check {check!r}; it has {list(found)}")
        series[entry["record"]["train"]["steps"]] = found[check]
    return series


def series_lines(
    slug: str,
    names: Sequence[str],
    check: str,
    width: int = 78,
    root: Path = ROOT,
    **checks: bool,
) -> str:
    """:func:`study_series` of each study in ``names`` as text, one paragraph per
    study (``name: check 0.56 at 2,000, 0.81 ✓ at 16,000, ...``, ✓ where the value
    meets the bar) wrapped to ``width`` columns, the width of a book page's output
    box; a check not measured shows as ``–``."""
    paragraphs = []
    for name in names:
        criteria = _study_criteria(slug, name, check, root, **checks)
        # no-break spaces keep "value at step" on one line until wrapped
        values = ", ".join(_cell(step, c) for step, c in criteria.items())
        text = textwrap.fill(
            f"{name}: {check} {values}", width, subsequent_indent="    "
        )
        paragraphs.append(text.replace("\xa0", " "))
    return "\n".join(paragraphs)


def _cell(step: int, criterion: Criterion) -> str:
    """``0.81\xa0✓\xa0at\xa016,000``: the value, ✓ where it meets the bar, the step."""
    value = "–" if criterion.value is None else f"{criterion.value:.2f}"
    mark = "\xa0✓" if criterion.met else ""
    return f"{value}{mark}\xa0at\xa0{step:,}"


def changed_settings(record: Mapping[str, Any], base: Record) -> str:
    """The model and train settings of ``record`` that differ from ``base`` (the
    current cpu record), scheduling settings left out; ``-`` when none."""
    full = parse_record(record, "study record").as_dict()
    changes = []
    for section in ("model", "train"):
        now, then = base.as_dict()[section], full[section]
        for key in sorted(set(now) | set(then)):
            if section == "train" and key in SCHEDULING:
                continue
            if now.get(key) != then.get(key):
                changes.append(f"{section}.{key}={then.get(key)}")
    return ", ".join(changes) or "-"


def study_rows(
    results: Sequence[Mapping[str, Any]], base: Record, **checks: bool
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of :func:`study_table`: one row per results file, the FD as a
    multiple of its floor and every other check of the bar as its value, a check
    mark where it meets the bar (``checks`` as for :func:`vidlib.bar.bar`)."""
    header: list[str] = ["study", "changed from the cpu record", "data", "step"]
    rows = []
    for entry in results:
        criteria = bar(entry["metrics"], **checks)
        if len(header) == 4:
            header += ["distance ÷ floor"] + [_short(c.check) for c in criteria[1:]]
        cells = []
        for i, c in enumerate(criteria):
            if c.value is None or c.threshold is None:
                cells.append("—")
                continue
            value = (
                f"{c.value * FD_MULTIPLE / c.threshold:.3g}" if i == 0 else c.shown()
            )
            cells.append(f"{value}{' ✓' if c.met else ''}")
        settings = changed_settings(entry["record"], base)
        steps = entry["record"]["train"]["steps"]
        made_on = entry["params"]["dataset"]
        rows.append([entry["params"]["study"], settings, made_on, steps, *cells])
    return header, rows


def _short(check: str) -> str:
    """A bar check's name for a table column (``IS shape ÷ real``, ``action kept``)."""
    if match := re.fullmatch(r"judge IS of (\w+), ÷ real clips' IS", check):
        return f"IS {match[1]} ÷ real"
    return check.split(" over ")[0]


def study_table(
    slug: str, root: Path = ROOT, model: str | None = None, **checks: bool
) -> HTML:
    """The committed studies of ``slug`` of ``model`` (default: the cpu record's)
    against the bar, as an HTML table; their changes are from that model's record
    in the chapter (:func:`cpu_record`)."""
    results = read_studies(slug, root)
    if not results:
        return HTML(f"<p>{slug} has no committed recipe study.</p>")
    base = cpu_record(slug, model, root)
    name = base.model["name"]
    results = [r for r in results if r["record"]["model"]["name"] == name]
    if not results:
        return HTML(f"<p>{slug} has no committed recipe study of {name}.</p>")
    table = html_table(*study_rows(results, base, **checks)).data
    now = open_data(base.data, "train", base.seed).config["dataset"]
    older = sorted({r["params"]["dataset"] for r in results} - {now})
    if older:
        table += (
            f"<p>Rows on {', '.join(older)} were trained on an earlier version of the"
            f" data than the chapter's ({now}); compare them with each other, not with"
            " the chapter's runs.</p>"
        )
    return HTML(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.study",
        description="Train a chapter's cpu record with changed settings, judge every "
        "checkpoint and write book/results/<slug>/study/<name>/.",
    )
    parser.add_argument("slug", help="a chapter with a cpu record, e.g. mocogan")
    parser.add_argument("name", help="the study's folder name, e.g. r1")
    parser.add_argument("--every", type=int, required=True, help="steps per checkpoint")
    add_overrides_option(parser, "set a record setting (section.key, VALUE)")
    parser.add_argument(
        "--seconds",
        type=float,
        help="stop training after this many seconds, checkpointing the step it "
        "stops at (run again to resume)",
    )
    half = parser.add_mutually_exclusive_group()
    half.add_argument("--train-only", action="store_true", help="train, judge nothing")
    half.add_argument(
        "--judge-only", action="store_true", help="judge the checkpoints, train nothing"
    )
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
        paths = run_study(
            args.slug,
            args.name,
            overrides,
            args.every,
            seconds=args.seconds,
            train=not args.judge_only,
            judge=not args.train_only,
        )
    except ValueError as error:  # a bad slug, record or file: one sentence
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
