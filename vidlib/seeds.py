"""Seed runs: every model of the book trained again from other seeds, so the results
chapter can give intervals over seeds and test the papers' claims on paired seeds.

A model is a chapter's run, ``<runs>/<profile>/<chapter run>/results.json``, which
holds the record it trained (:data:`MODELS`). A seed run is that record with another
``train.seed``, run by the grid machinery (:mod:`vidlib.runner.grids`: one
:func:`~vidlib.experiment.run_experiment` each, ``jobs`` at a time, each resuming from
its own checkpoints) into ``<runs>/<profile>/results/grid/<model>-seed<k>/``.
Ablations (:data:`ABLATIONS`) change a chapter run's record and train every seed;
variants (:data:`VARIANTS`) are a chapter's sub-runs, some fine-tuned from another
sub-run, whose seed runs train that start run from the same seed first.

At the cpu profile the seed runs' results files are committed, as
``book/results/seeds/<model>/seed-<k>.json``, so a fresh clone's book reads them
instead of training them again. :func:`collect` refuses a committed file whose
record (or start record) is not the chapter run's with another seed, or whose
training data has changed (:class:`StaleSeed`), and names the commands that remake
them::

    python -m vidlib.runner run --all --profile cpu   # the chapters' runs
    python -m vidlib.seeds --profile cpu --jobs 2      # their seed runs, committed
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidlib.record import RecordError, parse_record
from vidlib.results import RESULTS, ROOT, ResultsError, read_results_file, seal_results
from vidlib.runner import cache
from vidlib.runner.grids import GridRun, run_grid

#: model key: (name, the chapter run that trains it, relative to the profile's runs)
MODELS: dict[str, tuple[str, str]] = {
    "mocogan": ("MoCoGAN", "mocogan"),
    "vgan": ("VGAN", "vgan"),
    "tgan": ("TGAN", "tgan"),
    "dsa": ("DSA", "dsa"),
    "g3an": ("G3AN", "g3an"),
    "navs": ("NAVS", "navs"),
    "avlae": ("AVLAE", "avlae"),
    "rjgan": ("RJGAN", "residual"),
    "rmocogan": ("RMoCoGAN", "residual/rmocogan"),
    "rjvae": ("RJVAE", "residual/rjvae"),
}
#: ablation key: (name, the chapter run it changes, the record settings it changes);
#: the chapter does not train these at its recipe, so every seed is a seed run
ABLATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "g3an_no_gs": ("G3AN without G_S", "g3an", {"model.spatial_stream": False}),
    "g3an_no_gt": ("G3AN without G_T", "g3an", {"model.temporal_stream": False}),
    "g3an_no_fsa": ("G3AN without F-SA", "g3an", {"model.fsa_position": -1}),
    # Table 4: G_V's transposed convolution, the factorised ones as wide as a 3-D one
    "g3an_conv_3d": ("G3AN with 3D G_V", "g3an", {"model.conv": "3d"}),
    "g3an_conv_2p1d": (
        "G3AN with (2+1)D G_V",
        "g3an",
        {"model.conv": "2+1d", "model.match_3d_params": True},
    ),
    "g3an_conv_1p2d": (
        "G3AN with (1+2)D G_V",
        "g3an",
        {"model.conv": "1+2d", "model.match_3d_params": True},
    ),
    "avlae_no_wm_rec": (
        "AVLAE without the w_M reconstruction",
        "avlae",
        {"model.k1": 0.0},
    ),
    "avlae_no_wa_rec": (
        "AVLAE without the w_A reconstruction",
        "avlae",
        {"model.k2": 0.0},
    ),
    "avlae_no_rec": (
        "AVLAE without either reconstruction",
        "avlae",
        {"model.k1": 0.0, "model.k2": 0.0},
    ),
    "avlae_no_rec_no_em": (
        "AVLAE without either reconstruction or E_M",
        "avlae",
        {"model.k1": 0.0, "model.k2": 0.0, "model.motion_encoder": False},
    ),
    "navs_no_triplet": (
        "NAVS without the triplet loss",
        "navs",
        {"model.lambda_triplet": 0.0},
    ),
    "navs_no_static": (
        "NAVS without the static loss",
        "navs",
        {"model.lambda_static": 0.0},
    ),
    "navs_no_both": (
        "NAVS without either loss",
        "navs",
        {"model.lambda_triplet": 0.0, "model.lambda_static": 0.0},
    ),
}
#: variant key: (name, the chapter run that trains it at the chapter's seed, the
#: chapter run it fine-tunes from, if any): the residual chapter's short pre-training
#: comparison (Table 3), whose other seeds train the start run of the same seed
#: first, its mixed-data run (Sec. 5.1) and its image baseline (Table 5); the G3AN
#: chapter's two conditional models (Fig. 8); NAVS generating from random latents
#: (Table 4a's −Z) and its action-exchange model (Table 3)
VARIANTS: dict[str, tuple[str, str, str | None]] = {
    "rjgan_pretrained": (
        "RJGAN from a pre-trained G_I, short",
        "residual/pretraining/rjgan_pretrained",
        "residual/image_gan",
    ),
    "rjgan_scratch": (
        "RJGAN from scratch, short",
        "residual/pretraining/rjgan_scratch",
        None,
    ),
    "mocogan_short": (
        "MoCoGAN from scratch, short",
        "residual/pretraining/mocogan",
        None,
    ),
    "rjgan_mixed": ("RJGAN on half images", "residual/mixed", None),
    "image_gan": ("image baseline (G_I, D_I on frames)", "residual/image_gan", None),
    "g3an_conditional": ("G3AN, conditional", "g3an/conditional", None),
    "mocogan_categorical": ("MoCoGAN, categorical", "g3an/mocogan_categorical", None),
    "navs_minus_z": ("NAVS from random latents (−Z)", "navs/minus_z", None),
    "navs_exchange": ("NAVS action exchange", "navs/exchange", None),
}
KEYS = (*MODELS, *ABLATIONS, *VARIANTS)
SLUG = "results"  # the chapter whose run folder holds the seed runs
COMMITTED = "cpu"  # the profile whose seed runs ship with the book
SEEDS = (0, 1, 2)


class SeedsError(ValueError):
    """A seed run that cannot be used: missing, or stale against its chapter run."""


class StaleSeed(SeedsError):
    """A committed seed run whose record or data is no longer its chapter run's."""


def command(profile: str, jobs: int = 2) -> str:
    """The command line that (re)makes the seed runs of ``profile``."""
    return f"python -m vidlib.seeds --profile {profile} --jobs {jobs}"


def _entry(key: str) -> tuple[Any, ...]:
    return (MODELS | ABLATIONS | VARIANTS)[key]


def name(key: str) -> str:
    """How the book names a model, ablation or variant key."""
    return _entry(key)[0]


def chapter_of(key: str) -> str:
    """The chapter run (``slug`` or ``slug/sub-run``) a key's runs are of."""
    return _entry(key)[1]


def changes(key: str) -> dict[str, Any]:
    """The record settings an ablation changes (none for a model or variant)."""
    return ABLATIONS[key][2] if key in ABLATIONS else {}


def start_of(key: str) -> str | None:
    """The chapter run a variant fine-tunes from (None: it trains from scratch)."""
    return VARIANTS[key][2] if key in VARIANTS else None


def chapter_dir(key: str, profile: str, runs: Path | None = None) -> Path:
    """The folder of the chapter run ``key`` starts from at ``profile``."""
    return cache.out_root(runs) / profile / chapter_of(key)


def chapter_results(key: str, profile: str, runs: Path | None = None) -> dict:
    """The results of the chapter run ``key`` starts from; a clear error when it is
    missing."""
    return _run_results(chapter_of(key), name(key), profile, runs)


def _run_results(chapter: str, what: str, profile: str, runs: Path | None) -> dict:
    """The results of the chapter run ``chapter`` (of ``what``, for the message)."""
    path = cache.out_root(runs) / profile / chapter / RESULTS
    if not path.is_file():
        raise SeedsError(
            f"{path}: no {profile} run of {what} yet; run its chapter first:"
            f" python -m vidlib.runner run {chapter.split('/')[0]} --profile {profile}"
        )
    return read_results_file(path)


def expected_record(key: str, chapter_run: dict[str, Any], seed: int) -> dict:
    """The record a seed run of ``key`` trains: its chapter run's, with the
    ablation's changes and ``train.seed`` = ``seed``."""
    record = chapter_run["record"]
    if changes(key):
        spec = parse_record(record, f"{chapter_of(key)} record")
        record = spec.replace(changes(key), name(key)).as_dict()
    return seeded(record, seed)


def from_chapter(key: str, seed: int, chapter_run: dict[str, Any]) -> bool:
    """Whether the chapter run itself is ``key``'s run with ``seed``."""
    return key not in ABLATIONS and seed == chapter_run["seed"]


def expected_start(
    key: str, seed: int, profile: str, runs: Path | None = None
) -> dict[str, Any] | None:
    """The record a seed run of ``key`` trains first and fine-tunes from: its start
    chapter run's, with ``train.seed`` = ``seed`` (None: it starts from scratch)."""
    if (start := start_of(key)) is None:
        return None
    what = f"the run {name(key)} starts from"
    return seeded(_run_results(start, what, profile, runs)["record"], seed)


def committed_file(model: str, seed: int, root: Path = ROOT) -> Path:
    """``book/results/seeds/<model>/seed-<k>.json`` of the repository ``root``."""
    return root / "book" / "results" / "seeds" / model / f"seed-{seed}.json"


def seeded(record: dict[str, Any], seed: int) -> dict[str, Any]:
    """``record`` (a record's dict) with ``train.seed`` = ``seed``."""
    return {**record, "train": {**record["train"], "seed": seed}}


def training_data(record: dict[str, Any]) -> dict[str, Any]:
    """The config of the data ``record`` (a record's dict) trains on, with Shapes'
    version (:func:`vidlib.committed.training_data`)."""
    from vidlib.committed import training_data as of_record  # late: torch

    return of_record(parse_record(record, "seed run record"))


@dataclass(frozen=True)
class SeedRun:
    """A model trained from one seed: its results and where they came from."""

    model: str
    seed: int
    results: dict[str, Any]
    source: Path


def plan(
    profile: str, seeds: Sequence[int] = SEEDS, runs: Path | None = None
) -> list[GridRun]:
    """The grid runs of every model × seed that its chapter run did not train."""
    out = cache.out_root(runs) / profile / SLUG / "grid"
    planned = []
    for key in KEYS:
        chapter_run = chapter_results(key, profile, runs)
        for seed in seeds:
            if from_chapter(key, seed, chapter_run):
                continue
            origin = f"{name(key)} ({chapter_of(key)} run) with seed {seed}"
            record = parse_record(expected_record(key, chapter_run, seed), origin)
            start = expected_start(key, seed, profile, runs)
            inputs = {"record": record.as_dict(), "profile": profile}
            if start is not None:
                inputs["start"] = start
            digest = cache.inputs_hash(inputs, [])
            planned.append(
                GridRun(
                    chapter_of(key).split("/")[0],
                    profile,
                    key,
                    seed,
                    origin,
                    record,
                    out / f"{key}-seed{seed}",
                    digest,
                    None if start is None else parse_record(start, origin),
                )
            )
    return planned


def commit(runs: Sequence[GridRun], root: Path = ROOT) -> list[Path]:
    """Copy each run's results, with its training data's config and the command that
    made it, to :func:`committed_file`."""
    written = []
    for run in runs:
        results = read_results_file(run.run_dir / RESULTS)
        results["training_data"] = training_data(results["record"])
        results["command"] = command(run.profile)
        path = committed_file(run.variant, int(run.seed), root)
        path.parent.mkdir(parents=True, exist_ok=True)
        seal_results(path, results)
        written.append(path)
    return written


def today(record: Any, path: Path) -> dict[str, Any]:
    """A committed run's stored ``record`` as today's code reads it (model fields
    added since at their defaults); empty when it no longer parses."""
    try:
        return parse_record(record, str(path)).as_dict()
    except (RecordError, TypeError):
        return {}


def _committed(
    model: str,
    seed: int,
    chapter_run: dict[str, Any],
    root: Path,
    start: dict[str, Any] | None = None,
) -> SeedRun:
    path = committed_file(model, seed, root)
    regenerate = f"regenerate: {command(COMMITTED)}"
    if not path.is_file():
        raise SeedsError(f"{path}: no committed seed run; {regenerate}")
    try:
        results = read_results_file(path)
    except ResultsError as e:
        raise SeedsError(f"{path}: {e}; {regenerate}") from None
    expected = expected_record(model, chapter_run, seed)
    stored = today(results.get("record"), path)
    if stored != expected:
        changed = sorted(
            f"{section}.{key}"
            for section in expected
            for key in set(expected[section]) | set(stored.get(section, {}))
            if expected[section].get(key) != stored.get(section, {}).get(key)
        )
        raise StaleSeed(
            f"{path}: trained another record than {name(model)} with seed {seed}"
            f" (differs in {', '.join(changed) or 'its sections'}); {regenerate}"
        )
    if results.get("start_record") != start:
        raise StaleSeed(
            f"{path}: {name(model)} with seed {seed} did not start from today's"
            f" {start_of(model) or 'scratch'} record; {regenerate}"
        )
    if results.get("training_data") != training_data(expected):
        raise StaleSeed(
            f"{path}: trained on other data than today's {name(model)} data;"
            f" {regenerate}"
        )
    return SeedRun(model, seed, results, path)


def _uncommitted(model: str, seed: int, run: GridRun) -> SeedRun:
    if not run.up_to_date():
        raise SeedsError(
            f"{run.run_dir}: no up-to-date {run.profile} seed run of"
            f" {name(model)} with seed {seed}; run: {command(run.profile)}"
        )
    return SeedRun(model, seed, read_results_file(run.run_dir / RESULTS), run.run_dir)


def collect(
    profile: str,
    seeds: Sequence[int] = SEEDS,
    runs: Path | None = None,
    root: Path = ROOT,
) -> tuple[dict[str, list[SeedRun]], list[str]]:
    """Every model's and ablation's runs over ``seeds`` (a model's chapter run for
    the chapter's seed; at the cpu profile the committed files, else the grid runs),
    and one line per run that is missing or stale, which is left out."""
    found: dict[str, list[SeedRun]] = {}
    problems = []
    grid = {(r.variant, r.seed): r for r in _plan_or_none(profile, seeds, runs)}
    for model in KEYS:
        try:
            chapter_run = chapter_results(model, profile, runs)
        except SeedsError as e:
            problems.append(str(e))
            continue
        found[model] = []
        for seed in seeds:
            try:
                if from_chapter(model, seed, chapter_run):
                    source = chapter_dir(model, profile, runs) / RESULTS
                    found[model].append(SeedRun(model, seed, chapter_run, source))
                elif profile == COMMITTED:
                    start = expected_start(model, seed, profile, runs)
                    found[model].append(
                        _committed(model, seed, chapter_run, root, start)
                    )
                else:
                    found[model].append(_uncommitted(model, seed, grid[model, seed]))
            except SeedsError as e:
                problems.append(str(e))
    return found, problems


REFERENCE_ROWS = ("real_vs_real", "static", "shuffled")


def reference_rows(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics chapter's reference rows at the protocol of the run of ``record``
    (a record's dict): ``eval.num`` held-out clips as they are (the real-vs-real
    floor), with their first frame held (static) and with their frames shuffled,
    each against as many training clips, by the judges of its data."""
    from vidlib.data.spec import open_data
    from vidlib.experiment import first_clips, held_out  # late: torch, the models
    from vidlib.judging import load_judges
    from vidlib.metrics import registry

    spec = parse_record(record, "reference rows record")
    n = spec.eval.num
    real_train = first_clips(open_data(spec.data, "train", spec.seed), n)
    judges = load_judges(spec.data.shapes_config, progress=False)
    rows = registry.reference_rows(
        real_train,
        held_out(spec, n),
        ["fd_judge", "kd_judge"],
        judges,
        seed=spec.seed,
    )
    return {row: rows[row] for row in REFERENCE_ROWS}


def _plan_or_none(
    profile: str, seeds: Sequence[int], runs: Path | None
) -> list[GridRun]:
    if profile == COMMITTED:
        return []
    try:
        return plan(profile, seeds, runs)
    except SeedsError:
        return []  # collect names the missing chapter run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.seeds",
        description="Train every model of the book from other seeds (the chapters'"
        " runs must exist); at the cpu profile, commit their results files under"
        " book/results/seeds/.",
    )
    parser.add_argument("--profile", default=COMMITTED)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--force", action="store_true", help="rerun up-to-date runs")
    parser.add_argument(
        "--out-root", type=Path, default=None, help="run dirs root (default: _runs)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="KEY",
        choices=KEYS,
        help="these models/ablations/variants",
    )
    args = parser.parse_args(argv)
    try:
        runs = plan(args.profile, args.seeds, args.out_root)
    except SeedsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.only:
        runs = [run for run in runs if run.variant in args.only]
    run_grid(runs, force=args.force, jobs=args.jobs)
    if args.profile == COMMITTED:
        for path in commit(runs):
            print(f"committed: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
