"""Experiments as one library call: record -> data + Method -> ``fit`` -> metrics ->
``results.json``.

:func:`run_experiment` is what a chapter, a grid variant, a benchmark and a test call.
It seeds everything from ``record.train.seed`` *before* the Method is built (so the
record determines the weights, whichever way the library is entered), opens the data
of ``record.data``, builds the Method of ``record.model``, trains it with ``fit`` into
``<out_dir>/train/<training key>/`` and evaluates the names in ``record.eval.metrics``:

=======================  ==========================================================
``mfd``                  mean frame difference of generated and of training clips
``code_effect``          mean pixel change when only one code is redrawn (per code)
``fd_judge``             judge-feature Fréchet distance to held-out clips, and the
                         floor of training clips against the same held-out clips
``disentanglement``      the swap-grid scores of :mod:`vidlib.metrics.disentanglement`
``is_frame_classifier``  for a Method with ``prior_images``: the residual-vectors
                         paper's image IS (Table 5) of 10 × 128 of them, by the Shapes
                         frame classifier of D_I's architecture at the record's ``ndf``
``exchange``             on ``shapes-cells`` data (NAVS's action exchange): the
                         judges' agreement with the held-out (test) cells' labels,
                         generated from their identity's and action's latents
                         (:func:`vidlib.metrics.navs.exchange_accuracy`)
``conditional``          for a Method with a category code (``category_code``): the
                         judged action = asked category share and the category swap
                         (:mod:`vidlib.metrics.conditional`), categories = the data's
                         actions
any registry name        :func:`vidlib.metrics.registry.evaluate` on the samples
=======================  ==========================================================

The training folder is keyed by :meth:`Record.training_key`: changing a setting that
changes the weights trains into a new folder, and nothing finished is overwritten.

``python -m vidlib.experiment RECORD OUT_DIR`` (:func:`main`) runs one record from the
command line, and so under ``torchrun --nproc-per-node N -m vidlib.experiment ...``
with N ranks (:mod:`vidlib.distributed`): each trains, rank 0 alone evaluates and
writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from vidlib.data.shapes import ACTIONS
from vidlib.data.spec import EMBEDDED, open_data
from vidlib.distributed import Ranks
from vidlib.frame_classifier import FrameClassifierTraining, load_frame_classifier
from vidlib.method import Method, build, eval_mode, load_trained, sample
from vidlib.metrics.conditional import category_swap_scores, conditional_accuracy
from vidlib.metrics.disentanglement import (
    CODE_EFFECT_PROTOCOL,
    code_effect,
    disentanglement_scores,
)
from vidlib.metrics.frame_is import BATCH_SIZE, BATCHES, is_frame_classifier
from vidlib.metrics.judges import Judges
from vidlib.metrics.motion import MFD_PROTOCOL, mean_frame_difference
from vidlib.metrics.navs import exchange_accuracy
from vidlib.metrics.registry import evaluate, expand_names
from vidlib.record import (
    OWN_METRICS,
    Record,
    RecordError,
    parse_record,
    profile_record,
    read_yaml,
)
from vidlib.results import write_results
from vidlib.runner.params import add_overrides_option, parse_overrides
from vidlib.train import FitResult, fit, seed_everything

#: seed offsets (from record.train.seed) of each evaluation's random draws
CODE_EFFECT_SEED, FRAME_IS_SEED, DISENTANGLEMENT_SEED, CONDITIONAL_SEED = 3, 5, 9, 10


@dataclass
class Experiment:
    """A trained (or loaded) run and what it measured."""

    record: Record
    out_dir: Path
    data: Dataset
    method: Method
    fitted: FitResult
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    judges: Judges | None = None
    fake: torch.Tensor | None = None  # the evaluation samples
    real_test: torch.Tensor | None = None  # held-out clips (Shapes)

    @property
    def seed(self) -> int:
        return self.record.seed

    @property
    def train_dir(self) -> Path:
        return self.fitted.out_dir

    @property
    def seconds_per_step(self) -> float:
        return self.fitted.wall_time_s / self.record.train["steps"]

    def real_train(self, n: int) -> torch.Tensor:
        """The first ``n`` training clips (see :func:`first_clips`)."""
        return first_clips(self.data, n)

    def write_results(
        self,
        *,
        slug: str,
        profile: str,
        extra: dict[str, dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``<out_dir>/results.json``: the record, the metrics (and ``extra`` ones),
        the training folder and its last checkpoint."""
        train_dir = self.train_dir.relative_to(self.out_dir)
        return write_results(
            self.out_dir,
            slug=slug,
            profile=profile,
            seed=self.seed,
            record=self.record.as_dict(),
            params=params,
            metrics={**self.metrics, **(extra or {})},
            artifacts={
                "train_dir": str(train_dir),
                "checkpoint": str(self.fitted.checkpoint.relative_to(self.out_dir)),
                # no sample grids when the record's train.sample_every is 0
                **(
                    {"samples": str(train_dir / "samples")}
                    if (self.train_dir / "samples").is_dir()
                    else {}
                ),
            },
        )


def run_experiment(
    record: Record | dict[str, Any],
    out_dir: str | Path,
    *,
    slug: str | None = None,
    profile: str = "interactive",
    judges: Judges | None = None,
    start_from: Experiment | None = None,
) -> Experiment:
    """Train (or load) and evaluate ``record`` in ``out_dir``; with ``slug``, also
    write ``<out_dir>/results.json``. ``judges`` reuses already loaded judges.
    ``start_from`` fine-tunes: the Method starts from that experiment's weights (its
    training key and step name the training folder too). Under torchrun, every rank
    trains and rank 0 alone evaluates and writes; the others return the Experiment
    without metrics."""
    if not isinstance(record, Record):
        record = parse_record(record)
    out_dir = Path(out_dir)
    seed = record.seed
    seed_everything(seed)
    data = open_data(record.data, "train", seed)
    method = build(record.model)
    train_dir = out_dir / "train" / record.training_key()
    if start_from is not None:
        load_start(method, start_from.method)
        start = f"{start_from.record.training_key()}-step{start_from.fitted.step}"
        train_dir = train_dir.with_name(f"{train_dir.name}-from-{start}")
    fitted = fit(
        method,
        data,
        record.train_config(str(train_dir)),
        keep_weights=start_from is not None,
    )
    experiment = Experiment(record, out_dir, data, method, fitted, judges=judges)
    if not Ranks.from_env().main:
        return experiment
    evaluate_experiment(experiment)
    if slug is not None:
        experiment.write_results(slug=slug, profile=profile)
    return experiment


def load_start(method: Method, source: Method) -> dict[str, list[str]]:
    """Load every net of ``source`` into ``method``'s net of the same name. Every
    weight of the source must land (same name and shape); the target's other weights
    keep their draw (RJGAN's R_M and D_V when it starts from the image GAN's G_I and
    D_I). Returns, per net, the target's keys left at their draw."""
    kept: dict[str, list[str]] = {}
    for name, net in source.nets.items():
        if name not in method.nets:
            raise ValueError(
                f"start_from: the source's net {name!r} has no counterpart in "
                f"{type(method).__name__} (nets {sorted(method.nets)})"
            )
        missing, unexpected = method.nets[name].load_state_dict(
            net.state_dict(), strict=False
        )
        if unexpected:
            raise ValueError(
                f"start_from: {len(unexpected)} weights of {name!r} have no place in "
                f"{type(method).__name__}'s {name!r}, e.g. {unexpected[0]!r}"
            )
        kept[name] = list(missing)
    return kept


def needs_judges(record: Record) -> bool:
    """Whether ``record.eval`` asks for a metric the Shapes judges compute."""
    return any(
        "judge" in name or name in ("disentanglement", "conditional", "exchange")
        for name in record.eval.metrics
    )


def evaluate_experiment(experiment: Experiment) -> dict[str, dict[str, Any]]:
    """Fill ``experiment.metrics`` with the names of its record's ``eval.metrics``
    (every net in eval mode, as :func:`~vidlib.method.sample` draws)."""
    with eval_mode(experiment.method):
        return _evaluate(experiment)


def _evaluate(experiment: Experiment) -> dict[str, dict[str, Any]]:
    record, method = experiment.record, experiment.method
    n, seed = record.eval.num, experiment.seed
    names = record.eval.metrics
    metrics = experiment.metrics
    experiment.fake = fake = sample(method, n, seed + record.eval.seed_offset)
    metrics["train_seconds_per_step"] = {
        "value": experiment.seconds_per_step,
        "protocol": f"fit wall time / steps, batch {record.train['batch_size']}",
    }
    if "mfd" in names:
        real = experiment.real_train(n)
        for which, videos in (("fake", fake), ("real", real)):
            metrics[f"mfd_{which}"] = {
                "value": mean_frame_difference(videos).mean().item(),
                "protocol": MFD_PROTOCOL,
                "n": len(videos),
            }
    if "code_effect" in names:
        for key in (method.appearance_code, method.motion_code):
            if key is not None:
                metrics[f"code_effect_{key}"] = {
                    "value": code_effect(
                        method, key, n=n, seed=seed + CODE_EFFECT_SEED
                    ),
                    "protocol": CODE_EFFECT_PROTOCOL,
                    "n": n,
                }
    if "is_frame_classifier" in names:
        metrics["is_frame_classifier"] = frame_is_entry(method, record, seed)
    if needs_judges(record):
        judges = experiment.judges = experiment.judges or _judges(record)
        registry = [
            name for name in names if name not in OWN_METRICS or name == "fd_judge"
        ]
        if registry:  # scored against held-out clips of the record's data
            metrics |= _against_held_out(experiment, registry, judges)
        if "disentanglement" in names:
            metrics |= disentanglement_scores(
                method, judges, seed=seed + DISENTANGLEMENT_SEED
            )
        if "conditional" in names:
            metrics |= conditional_scores(method, record, judges, n, seed)
        if "exchange" in names:
            metrics |= exchange_entries(experiment, judges)
    else:
        registry = [name for name in names if name not in OWN_METRICS]
        if registry:
            real = experiment.real_train(n)
            metrics |= evaluate(registry, fake, real=real, seed=seed)
    return metrics


def frame_is_entry(method: Method, record: Record, seed: int) -> dict[str, Any]:
    """The image IS of ``method.prior_images`` (seed ``seed + FRAME_IS_SEED``) by the
    frame classifier of the record's data and seed, D_I's architecture at the
    record's ``model.ndf`` (``value None`` with the reason where there is none)."""
    draw = getattr(method, "prior_images", None)
    reason = None
    if draw is None:
        reason = f"{type(method).__name__} draws no images from a fixed prior"
    elif record.data.dataset != "shapes":
        reason = f"needs Shapes' frame labels, data.dataset is {record.data.dataset!r}"
    if reason is not None:
        protocol = "residual-vectors image IS (Table 5) of the Method's prior images"
        return {"value": None, "protocol": protocol, "unavailable": reason}
    training = FrameClassifierTraining(ndf=record.model.get("ndf", 64))
    classifier = load_frame_classifier(
        record.data.shapes_config, seed=seed, training=training, progress=False
    )
    images = draw(
        BATCHES * BATCH_SIZE, torch.Generator().manual_seed(seed + FRAME_IS_SEED)
    )
    return {
        **is_frame_classifier(images, classifier),
        "classifier_accuracy": classifier.accuracy["frame"],
        "seed": seed,
    }


def _against_held_out(
    experiment: Experiment, registry: list[str], judges: Judges
) -> dict[str, dict[str, Any]]:
    """The registry's judge metrics of the samples against held-out clips, with the
    floor of training clips for ``fd_judge`` and the held-out clips' own scores."""
    record, n, seed = experiment.record, experiment.record.eval.num, experiment.seed
    real_test = experiment.real_test = held_out(record, n)
    metrics = {}
    if "fd_judge" in registry:
        fd_key = f"fd_{judges.protocol}"
        floor = evaluate(
            ["fd_judge"],
            experiment.real_train(n),
            real=real_test,
            judges=judges,
            seed=seed,
        )
        metrics[f"{fd_key}_train_vs_test_real"] = floor[fd_key]
    fake = experiment.fake
    metrics |= evaluate(registry, fake, real=real_test, judges=judges, seed=seed)
    scores = [k for k in expand_names(registry, judges) if k.startswith("is_")]
    for key, entry in evaluate(scores, real_test, judges=judges, seed=seed).items():
        metrics[f"{key}_real"] = entry  # the held-out clips' own score
    return metrics


def exchange_entries(experiment: Experiment, judges: Judges) -> dict[str, dict]:
    """NAVS's action exchange scored on the record's ``shapes-cells`` data: the
    judges' agreement on the held-out (test) cells, their ground truth and the
    training cells (``value None`` with the reason on other data)."""
    record = experiment.record
    if record.data.dataset != "shapes-cells":
        return {
            "exchange": {
                "value": None,
                "protocol": "action exchange on held-out (identity, action) cells",
                "unavailable": "needs shapes-cells data (data.dataset is"
                f" {record.data.dataset!r})",
            }
        }
    test = open_data(record.data, "test", experiment.seed)
    return exchange_accuracy(experiment.method, judges, experiment.data, test)


def conditional_scores(
    method: Method, record: Record, judges: Judges, n: int, seed: int
) -> dict[str, dict[str, Any]]:
    """``action_accuracy_<judges>`` and ``category_swap_appearance_kept_<judges>`` of a
    Method asked for each action of ``record.data`` as its category (``value None``
    with the reason when it has no category code)."""
    key = getattr(method, "category_code", None)
    codes = method.codes(2, torch.Generator().manual_seed(seed))
    if key is None or key not in codes:
        reason = f"{type(method).__name__} is not conditional (no category code)"
        return {
            f"{name}_{judges.protocol}": {
                "value": None,
                "protocol": f"{name} of a conditional Method",
                "unavailable": reason,
            }
            for name in ("action_accuracy", "category_swap_appearance_kept")
        }
    categories = [ACTIONS.index(a) for a in record.data.actions]
    accuracy = conditional_accuracy(
        method, judges, categories, n, seed + CONDITIONAL_SEED, category_key=key
    )
    swap = category_swap_scores(
        method, judges, categories, n, seed + CONDITIONAL_SEED + 1, category_key=key
    )
    return {
        f"action_accuracy_{judges.protocol}": accuracy,
        f"category_swap_appearance_kept_{judges.protocol}": swap,
    }


def first_clips(data: Dataset, n: int) -> torch.Tensor:
    """The first ``n`` clips of ``data`` (fewer when the data is smaller; the images
    of mixed data are left out)."""
    clips = (data[i] for i in range(len(data)))
    videos = (item["video"] for item in clips if not item.get("is_image"))
    return torch.stack(list(itertools.islice(videos, n)))


def held_out_data(record: Record, n: int) -> Dataset:
    """The test split of the record's data, ``n`` items (clips with their labels)."""
    return open_data(dataclasses.replace(record.data, size=n), "test", record.seed)


def held_out(record: Record, n: int) -> torch.Tensor:
    """``n`` clips of the test split of the record's data."""
    test = held_out_data(record, n)
    return torch.stack([test[i]["video"] for i in range(n)])


def _judges(record: Record) -> Judges:
    if record.data.dataset not in EMBEDDED:
        raise ValueError(
            f"eval.metrics {list(record.eval.metrics)} need the Shapes judges, but"
            f" data.dataset is {record.data.dataset!r}; judge metrics exist only on"
            " Shapes"
        )
    from vidlib.judging import load_judges

    return load_judges(record.data.shapes_config, progress=False)


def compare(
    experiment: Experiment, other_dir: str | Path
) -> tuple[dict[str, dict[str, Any]], int]:
    """The finished run in ``other_dir`` scored under ``experiment``'s protocol: the
    same judges, the same number of samples and seeds, the same held-out clips.

    Returns its metric entries (the judge metrics of ``experiment.metrics``) and the
    step of its checkpoint. Raises ``ValueError`` naming the folder when that run is
    missing or saw other data.
    """
    other, step, results = load_trained(other_dir)
    with eval_mode(other):
        return _compare(experiment, other, results, other_dir), step


def _compare(
    experiment: Experiment,
    other: Method,
    results: dict[str, Any],
    other_dir: str | Path,
) -> dict[str, dict[str, Any]]:
    ours = experiment.record.data.shapes_config
    theirs = parse_record(results["record"], str(other_dir)).data.shapes_config
    if ours != theirs:
        differ = {
            k: (getattr(theirs, k), getattr(ours, k))
            for k in vars(ours)
            if getattr(theirs, k) != getattr(ours, k)
        }
        raise ValueError(f"{other_dir} used other data (theirs, ours): {differ}")
    record = experiment.record
    seed, n = experiment.seed, record.eval.num
    names = [m for m in record.eval.metrics if m not in ("mfd", "code_effect")]
    judges = experiment.judges
    fake = sample(other, n, seed + record.eval.seed_offset)
    registry = [m for m in names if m not in OWN_METRICS or m == "fd_judge"]
    real = experiment.real_test  # as evaluate_experiment: held-out clips with judges
    real = real if real is not None else experiment.real_train(n)
    metrics = evaluate(registry, fake, real=real, judges=judges, seed=seed)
    if "disentanglement" in names and judges is not None:
        metrics |= disentanglement_scores(
            other, judges, seed=seed + DISENTANGLEMENT_SEED
        )
    return metrics


def comparison_table(
    ours: dict[str, dict[str, Any]],
    theirs: dict[str, dict[str, Any]],
    names: tuple[str, str],
) -> str:
    """A markdown table of the metrics both runs have: ``| measure | ours | theirs |
    better |`` (``names`` are the two column titles; "better" is the entry's
    direction, "—" where it has none)."""
    return metrics_table({names[0]: ours, names[1]: theirs}, order=theirs)


def metrics_table(
    runs: Mapping[str, Mapping[str, dict[str, Any]]],
    order: Mapping[str, Any] | None = None,
) -> str:
    """A markdown table of the metrics every run of ``runs`` (column title → metric
    entries) has a value of, in the order of ``order`` (default: the last run's):
    ``| measure | run 1 | run 2 | … | better |``."""
    columns = list(runs.values())
    lines = [
        "| measure | " + " | ".join(runs) + " | better |",
        "|---" * (len(runs) + 2) + "|",
    ]
    for name in order if order is not None else columns[-1]:
        entries = [run.get(name, {}) for run in columns]
        values = [entry.get("value") for entry in entries]
        if all(isinstance(v, int | float) for v in values):
            cells = " | ".join(f"{v:.3f}" for v in values)
            better = entries[-1].get("better", "—")
            lines.append(f"| `{name}` | {cells} | {better} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidlib.experiment RECORD OUT_DIR [--profile P] [-p NAME VALUE]``:
    :func:`run_experiment` of a chapter's record at a profile (or of a YAML file
    holding a record) into OUT_DIR, with ``results.json``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.experiment",
        description="Train and evaluate one experiment record (also under torchrun).",
    )
    parser.add_argument(
        "record", help="a chapter slug (notebooks/<SLUG>.md) or a YAML record file"
    )
    parser.add_argument("out_dir", type=Path, help="where results.json and train/ go")
    parser.add_argument(
        "--profile", default="smoke", help="the chapter's profile (default: smoke)"
    )
    add_overrides_option(parser, "set a record setting (section.key, VALUE as YAML)")
    args = parser.parse_args(argv)
    try:
        record = _record(args.record, args.profile)
        if args.overrides:
            record = record.replace(parse_overrides(args.overrides), "-p")
    except RecordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = Path(args.record).stem
    exp = run_experiment(record, args.out_dir, slug=name, profile=args.profile)
    if Ranks.from_env().main:
        fitted = exp.fitted
        print(f"{name}: {fitted.status} to step {fitted.step} in {exp.train_dir}")
    return 0


def _record(source: str, profile: str) -> Record:
    """The record of chapter ``source`` at ``profile``, or of the YAML file
    ``source``."""
    if Path(source).suffix in (".yaml", ".yml"):
        return parse_record(read_yaml(source, "a YAML record mapping"), source)
    record = profile_record(source, profile)
    if not isinstance(record, Record):
        raise RecordError(f"{source} trains nothing (its record has no model)")
    return record


if __name__ == "__main__":
    sys.exit(main())
