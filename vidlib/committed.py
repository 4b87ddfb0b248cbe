"""Committed reference runs: longer trainings whose outputs ship with the book.

The cpu chapters train for a few minutes each so a fresh clone builds the book in
time. A *reference* run of a chapter trains the record of
``notebooks/params/<slug>.reference.yaml`` for longer (about an hour on two CPU
cores, or on a GPU where one was lent) and commits, under
``book/results/<slug>/reference/``:

* ``weights.pt``: the state dicts of the nets that generate (no discriminator; with
  an EMA of G only ``G_ema``, which is also loaded as ``G``), in float32, or rounded
  to float16 when float32 would exceed ``MAX_BYTES`` (``weights_dtype`` in the
  manifest; what the chapters measure is the committed, rounded model);
* ``reference.json``: the record, the model's config hash, the training data's
  config (with the dataset's version, e.g. ``shapes-v2``), the step, the training
  time and the device it was trained on (``trained_on``, from the checkpoint), the
  command that made it and the provenance of the commit (versions, git SHA);
* ``results.json``: the metrics measured on the machine that committed it.

:func:`load_reference` rebuilds the Method from the committed record and weights, so
a chapter samples and *measures* the reference model on the reader's machine
(:func:`~vidlib.experiment.evaluate_experiment`); nothing is typed in. It refuses a
stale reference, one whose record, model config or data no longer matches the code
and params file, and names the command that regenerates it::

    python -m vidlib.committed <slug>

A chapter with a second model to show (G3AN's conditional generator) has a *variant*
reference, named ``<slug>/<variant>``: its record is
``notebooks/params/<slug>.reference-<variant>.yaml`` and its files go under
``book/results/<slug>/reference-<variant>/``; everything else is the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from IPython.display import HTML, display

from vidlib import checkpoint as ckpt
from vidlib import viz
from vidlib.bar import bar, bar_table, report, shares_table
from vidlib.data.spec import open_data
from vidlib.experiment import Experiment, evaluate_experiment, run_experiment
from vidlib.method import Method, build
from vidlib.metrics.judges import Judges
from vidlib.record import Record, added_since, parse_record, profile_record
from vidlib.results import ROOT, provenance
from vidlib.train import FitResult, device_history

PROFILE = "reference"
WEIGHTS, MANIFEST, RESULTS = "weights.pt", "reference.json", "results.json"
MAX_BYTES = 3 * 1024 * 1024  # committed weights stay small


class StaleReference(ValueError):
    """A committed reference run that no longer matches the code or its params."""


def split_name(name: str) -> tuple[str, str]:
    """The chapter and the params profile of the reference ``name``: ``g3an`` gives
    ``("g3an", "reference")``, ``g3an/conditional`` ``("g3an",
    "reference-conditional")``."""
    slug, _, variant = name.partition("/")
    if not slug or "/" in variant or name.endswith("/"):
        raise ValueError(
            f"reference name {name!r}: expected <slug> or <slug>/<variant>, "
            "e.g. g3an or g3an/conditional"
        )
    return slug, f"{PROFILE}-{variant}" if variant else PROFILE


def reference_dir(name: str, root: Path = ROOT) -> Path:
    """``book/results/<slug>/reference[-<variant>]`` of the repository ``root``."""
    slug, profile = split_name(name)
    return root / "book" / "results" / slug / profile


def command(name: str) -> str:
    """The command that (re)makes the reference run ``name``."""
    return f"python -m vidlib.committed {name}"


def sampling_weights(method: Method) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts of the nets that generate: every net but the discriminators
    (names starting with ``D``), and of G and its EMA only the EMA."""
    keep = {k: net for k, net in method.nets.items() if not k.startswith("D")}
    if "G_ema" in keep:
        keep.pop("G")
    return {k: net.state_dict() for k, net in keep.items()}


def as_float16(
    weights: dict[str, dict[str, torch.Tensor]],
) -> dict[str, dict[str, torch.Tensor]]:
    """``weights`` with every floating-point tensor rounded to float16 (loading copies
    them back into the nets' float32 parameters)."""
    return {
        net: {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        for net, state in weights.items()
    }


def make_reference(
    name: str, *, root: Path = ROOT, out_dir: Path | None = None
) -> Path:
    """Train the record of reference ``name`` (resuming any interrupted run in
    ``out_dir``, default ``_runs/<profile>/<slug>``) and commit its outputs."""
    slug, profile = split_name(name)
    record = profile_record(slug, profile, root)
    if not isinstance(record, Record):
        raise ValueError(f"{slug} trains nothing: it has no reference run")
    out_dir = out_dir or root / "_runs" / profile / slug
    began = time.perf_counter()
    experiment = run_experiment(record, out_dir, slug=slug, profile=profile)
    weights = sampling_weights(experiment.method)
    target = reference_dir(name, root)
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    dtype = "float32"
    ckpt.save_checkpoint(staging / WEIGHTS, {"nets": weights})
    if (staging / WEIGHTS).stat().st_size > MAX_BYTES:
        dtype = "float16"
        ckpt.save_checkpoint(staging / WEIGHTS, {"nets": as_float16(weights)})
    size = (staging / WEIGHTS).stat().st_size
    if size > MAX_BYTES:
        shutil.rmtree(staging)
        raise ValueError(
            f"{name}'s reference weights take {size / 2**20:.1f} MiB even in "
            f"float16, over the {MAX_BYTES / 2**20:.0f} MiB a committed run may; "
            "shrink the model"
        )
    manifest = {
        "slug": slug,
        "name": name,
        "record": record.as_dict(),
        "config_hash": ckpt.config_hash(experiment.method.config),
        "data": training_data(record),
        "step": experiment.fitted.step,
        "weights_dtype": dtype,
        "train_wall_time_s": experiment.fitted.wall_time_s,
        "trained_on": trained_on(experiment.fitted.checkpoint),
        "make_wall_time_s": time.perf_counter() - began,
        "command": command(name),
        "provenance": provenance(),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.copy(out_dir / RESULTS, staging / RESULTS)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # the old reference stays whole until the new one is
    return target


def trained_on(checkpoint: Path) -> str:
    """The device the weights of a training checkpoint were trained on (``cpu`` or
    the GPU's name), as the checkpoint records it; a run resumed on other machines
    names each with its steps, in order (``NVIDIA H200 for 5,000 steps, then cpu
    for 200 steps``); ``unrecorded`` for a checkpoint written before checkpoints
    named it."""
    history = device_history(ckpt.load_checkpoint(checkpoint))
    if len(history) == 1:
        return history[0][0]
    return ", then ".join(f"{device} for {steps:,} steps" for device, steps in history)


def training_data(record: Record) -> dict[str, Any]:
    """The config of the data ``record`` trains on, as its dataset reports it (for
    Shapes with the version of how videos are drawn)."""
    return open_data(record.data, "train", record.seed).config


def read_manifest(name: str, root: Path = ROOT) -> dict[str, Any]:
    """``reference.json`` of reference ``name``; a clear error when there is none."""
    path = reference_dir(name, root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: {name} has no committed reference run; make it with "
            f"`{command(name)}`"
        )
    return json.loads(path.read_text())


def check_reference(name: str, root: Path = ROOT) -> Record:
    """The committed record of reference run ``name``, after checking that it is
    what ``notebooks/params/<slug>.<profile>.yaml`` and the code make now; raises
    :class:`StaleReference` with the regenerating command otherwise."""
    slug, profile = split_name(name)
    manifest = read_manifest(name, root)
    stored = parse_record(manifest["record"], f"{name} {MANIFEST}")
    current = profile_record(slug, profile, root)
    fix = f"; regenerate it with `{command(name)}` and commit the folder"
    if stored.as_dict() != current.as_dict():
        changed = sorted(
            f"{section}.{key}"
            for section, values in current.as_dict().items()
            for key in set(values) | set(stored.as_dict().get(section, {}))
            if values.get(key) != stored.as_dict().get(section, {}).get(key)
        )
        raise StaleReference(
            f"{name}'s committed reference run was made with another record than "
            f"notebooks/params/{slug}.{profile}.yaml gives now (differs in "
            f"{', '.join(changed)}){fix}"
        )
    with torch.device("meta"):  # the config is all it needs: no weights, no training
        config = build(stored.model, untrained=True).config
    # fields added since, at their defaults, were not in the config it hashed
    added = added_since(manifest["record"], stored)
    config_hash = ckpt.config_hash({k: v for k, v in config.items() if k not in added})
    if config_hash != manifest["config_hash"]:
        raise StaleReference(
            f"{name}'s committed reference run was made by other model code (config "
            f"hash {manifest['config_hash']}, now {config_hash}){fix}"
        )
    data = training_data(stored)
    if manifest.get("data") != data:
        made_on = (manifest.get("data") or {}).get("dataset", "unrecorded data")
        raise StaleReference(
            f"{name}'s committed reference run was trained on other data ({made_on}; "
            f"the code now draws {data.get('dataset')}){fix}"
        )
    return stored


def load_reference(
    name: str,
    root: Path = ROOT,
    *,
    evaluate: bool = True,
    judges: Judges | None = None,
) -> Experiment:
    """The committed reference model ``name`` as an Experiment (its Method
    loaded from the committed weights, its data opened); with ``evaluate``, the
    record's metrics measured now, on this machine (``judges``: already loaded
    ones for the record's data)."""
    record = check_reference(name, root)
    manifest = read_manifest(name, root)
    folder = reference_dir(name, root)
    method = build(record.model)
    path = folder / WEIGHTS
    for net, state in _read_weights(path, name).items():
        if net not in method.nets:
            raise ckpt.CheckpointError(
                f"{path} holds a net {net!r} that {name} does not have "
                f"({', '.join(method.nets)}); regenerate it with `{command(name)}`"
            )
        ckpt.load_state(method.nets[net], state, path, net)
        if net == "G_ema":
            ckpt.load_state(method.nets["G"], state, path, net)
    fitted = FitResult(
        status="committed",
        step=manifest["step"],
        out_dir=folder,
        checkpoint=folder / WEIGHTS,
        config_hash=manifest["config_hash"],
        wall_time_s=manifest["train_wall_time_s"],
    )
    data = open_data(record.data, "train", record.seed)
    experiment = Experiment(record, folder, data, method, fitted, judges=judges)
    if evaluate:
        evaluate_experiment(experiment)
    return experiment


def _read_weights(path: Path, name: str) -> dict[str, dict[str, torch.Tensor]]:
    """The ``nets`` of a committed ``weights.pt``; a clear error when it is damaged."""
    fix = f"restore it with `git checkout -- {path.parent}` or regenerate it with "
    payload = ckpt.load_weights(
        path, f"{name}'s committed weights", f"{fix}`{command(name)}`"
    )
    if not isinstance(payload, dict) or not isinstance(payload.get("nets"), dict):
        raise ckpt.CheckpointError(
            f"{path} cannot be read as {name}'s committed weights (it holds no "
            f"'nets' mapping); {fix}`{command(name)}`"
        )
    return payload["nets"]


def chapter_reference(name: str, run: Experiment) -> Experiment | None:
    """The reference run ``name`` a chapter shows beside its own ``run``, evaluated
    with the run's judges when both have the same Shapes factors; ``None`` when the
    run has no judges (the smoke profile) or ``name`` has no committed reference
    run."""
    if run.judges is None or not (reference_dir(name) / MANIFEST).is_file():
        return None
    same_data = check_reference(name).data.shapes_config == run.judges.config
    return load_reference(name, judges=run.judges if same_data else None)


def no_reference_reason(name: str, run: Experiment, root: Path = ROOT) -> str:
    """Why :func:`chapter_reference` gave ``None`` for ``name`` beside ``run``."""
    folder = reference_dir(name, root)
    if not (folder / MANIFEST).is_file():
        return (
            f"{name} has no committed reference run "
            f"({folder.relative_to(root).as_posix()})"
        )
    return (
        "the reference run is measured only where this run has judges (the cpu and "
        "gpu profiles)"
    )


def show_reference(reference: Experiment, title: str, **checks: bool) -> None:
    """A chapter's report of its reference run: steps and training time, the bar
    (``checks`` as for :func:`vidlib.bar.bar`), what the judges call its clips and
    real ones, and 16 samples as a GIF."""
    steps, fitted = reference.fitted.step, reference.fitted
    manifest = json.loads((reference.out_dir / MANIFEST).read_text())
    device = manifest.get("trained_on", manifest["provenance"]["device"])
    print(
        f"reference run: {steps} steps, {fitted.wall_time_s / 60:.0f} min of training"
        f" on {device} ({reference.seconds_per_step:.3f} s/step)"
    )
    criteria = bar(reference.metrics, **checks)
    print(report(f"{title} (reference, {steps} steps)", criteria))
    display(bar_table(criteria))
    if reference.judges is not None and reference.real_test is not None:
        judges = reference.judges
        # a display, not a print: printed text is merged above the bar table
        caption = "What the judges call the reference run's clips and held-out ones:"
        display(HTML(f"<p>{caption}</p>"))
        display(
            shares_table(
                judges.shares(reference.fake), judges.shares(reference.real_test)
            )
        )
    display(viz.show_gif(reference.fake[:16], ncol=8, scale=3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.committed",
        description="Train a chapter's reference record and commit its outputs "
        "under book/results/<slug>/reference[-<variant>]/.",
    )
    parser.add_argument(
        "names",
        nargs="+",
        help="chapters or <chapter>/<variant>, e.g. mocogan g3an g3an/conditional",
    )
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            target = make_reference(name)
        except ValueError as error:  # a bad name, record or file: one sentence
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{name}: {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
