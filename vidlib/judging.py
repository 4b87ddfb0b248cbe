"""Training, testing and caching the Shapes judges of :mod:`vidlib.metrics.judges`.

``load_judges(config)`` trains, once per Shapes configuration, the action and the
appearance judges on ``ShapesVideos(config, split="train")`` through the book's one
training loop, :func:`vidlib.train.fit` (a :class:`JudgeTrainer` is their Method), and
measures their accuracy on ``split="test"`` (different videos drawn from the same
combinations). The training set holds ``steps × batch_size`` clips and ``fit`` goes
through it once in a seeded order, so no clip is seen twice and train and test
accuracy differ only by the judges' error.

The weights and the test accuracy are cached atomically under
``<cache_dir>/<hash>/judges.pt`` (accuracy also in ``accuracy.json`` beside it), keyed
by a hash of the Shapes config and version, the seed, the training settings and
``JUDGES_VERSION``; ``fit``'s run (scalar log, last checkpoint) is kept in
``<cache_dir>/<hash>/train/``, so an interrupted training resumes. Training runs on
the CPU, on one thread, deterministically from ``seed``, and leaves the caller's
global random state as it was.

The Metrics chapter trains the judges of its record and shows their test accuracy.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from vidlib import checkpoint as ckpt
from vidlib.data.shapes import DATASET, ShapesConfig, ShapesVideos
from vidlib.metrics.judges import (
    APPEARANCE_RESOLUTION,
    Judges,
    cpu_threads,
    judge_nets,
    label_index,
    shrink,
)
from vidlib.results import ROOT, write_json
from vidlib.train import TrainConfig, fit

T = TypeVar("T")

JUDGES_VERSION = 4
"""Bump when the networks or the training change: old caches are then ignored."""
WEAK_ACCURACY = 0.9
"""``load_judges`` warns when a judge's test accuracy is below this."""
CACHE_DIR = ROOT / "_runs" / "judges"
"""Where ``load_judges`` caches judges unless told otherwise."""


@dataclass(frozen=True)
class JudgeTraining:
    """How the judges are trained; every field enters the cache hash."""

    steps: int
    batch_size: int = 32
    lr: float = 2e-3
    width: int = 16
    frames: int = 2  # frames per clip the appearance judge trains on
    test_size: int = 1024


def default_steps(config: ShapesConfig) -> int:
    """Training steps when ``load_judges(steps=None)``: 600 with orbit, pulse or more
    than three shapes (the harder classes: at 400 steps the shape judge of the full
    64×64×16 config reached only 0.956 test accuracy with one of two seeds), else
    200."""
    hard = {"orbit", "pulse"} & set(config.actions) or len(config.shapes) > 3
    return 600 if hard else 200


class JudgeTrainer:
    """The judges as a Method for ``fit``: one Adam step on the sum of the judges'
    cross-entropies. Every clip trains the action judge; each appearance judge sees
    ``training.frames`` random frames of it. It generates nothing (``fit`` runs it
    with ``sample_every=0``)."""

    appearance_code = motion_code = None

    def __init__(
        self, config: ShapesConfig, training: JudgeTraining, record: dict[str, Any]
    ) -> None:
        with torch.random.fork_rng(devices=[]):  # fit seeds the rest of the run
            torch.manual_seed(record["seed"])
            self.nets = dict(judge_nets(config, training.width).items())
        params = [p for net in self.nets.values() for p in net.parameters()]
        self.opts = {"judges": torch.optim.Adam(params, lr=training.lr)}
        self.config = record
        self.frames, self.sampled = config.frames, training.frames
        self.index = label_index(config)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        labels = _local_labels(batch, self.index)
        videos = shrink(batch["video"], APPEARANCE_RESOLUTION)  # as Judges._forward
        losses = {
            "action": F.cross_entropy(self.nets["action"](videos), labels["action"])
        }
        some = torch.randint(self.frames, (self.sampled,))
        for factor, net in self.nets["appearance"].items():
            losses[factor] = F.cross_entropy(net(videos[:, :, some]), labels[factor])
        self.opts["judges"].zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        self.opts["judges"].step()
        return {key: loss.item() for key, loss in losses.items()}


def _local_labels(
    batch: dict, index: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Global labels of a batch -> positions among the config's values."""
    out = {}
    for key, values in index.items():
        lookup = torch.full((int(values.max()) + 1,), -1, dtype=torch.long)
        lookup[values] = torch.arange(len(values))
        out[key] = lookup[batch[key]]
    return out


def train_judges(
    config: ShapesConfig,
    training: JudgeTraining,
    record: dict[str, Any],
    out_dir: Path,
    progress: bool = True,
) -> Judges:
    """Train the judges through ``fit`` into ``out_dir``; measure test accuracy."""
    trainer = JudgeTrainer(config, training, record)
    seed = record["seed"]
    fit_on_shapes(trainer, config, training, seed, out_dir, progress)
    nets = trainer.nets
    judges = Judges(
        config,
        nets["action"],
        nets["appearance"],
        accuracy={},
        key=ckpt.config_hash(record),
    )
    judges.accuracy = test_accuracy(judges, training.test_size, seed)
    return judges


@torch.no_grad()
def test_accuracy(judges: Judges, size: int, seed: int) -> dict[str, float]:
    """Fraction of ``size`` test-split clips whose every judged label is right."""
    data = ShapesVideos(judges.config, size=size, seed=seed, split="test")
    correct: dict[str, int] = {}
    loader = torch.utils.data.DataLoader(
        data, batch_size=judges.batch_size, generator=torch.Generator()
    )  # its own generator: the global random state stays untouched
    for batch in loader:
        for key, predicted in judges.predict(batch["video"]).items():
            correct[key] = correct.get(key, 0) + int((predicted == batch[key]).sum())
    return {key: count / size for key, count in correct.items()}


def load_judges(
    config: ShapesConfig,
    *,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    steps: int | None = None,
    progress: bool = True,
) -> Judges:
    """Judges for ``config``: loaded from the cache, or trained and cached first.

    The cache is ``<cache_dir>/<hash>/judges.pt`` (default cache_dir:
    ``CACHE_DIR``, ``<repo>/_runs/judges``) with ``accuracy.json`` beside it; the hash
    covers the config, the Shapes version ``DATASET``, ``seed``, the training
    settings and ``JUDGES_VERSION``. A cache file that cannot be read is reported
    with a warning naming it, and the judges are retrained from scratch. ``steps``
    defaults to ``default_steps(config)``.
    """
    if not isinstance(config, ShapesConfig):
        raise TypeError(f"config must be a ShapesConfig, got {type(config).__name__}")
    if config.frames < 2 or len(config.actions) < 2:
        raise ValueError(
            "judges need clips (frames >= 2) and at least two actions to tell apart; "
            f"got frames={config.frames}, actions={config.actions}"
        )
    training = JudgeTraining(steps=steps or default_steps(config))
    record = shapes_record(JUDGES_VERSION, config, seed, training)
    key, folder = cache_folder(record, cache_dir, CACHE_DIR)
    path = folder / "judges.pt"
    judges = read_cached(path, "judges", lambda p: _read(p, config, training, key))
    if judges is not None:
        return _warn_if_weak(judges)
    judges, seconds = timed_training(
        lambda: train_judges(config, training, record, folder / "train", progress)
    )
    nets = {
        "action": judges.action.state_dict(),
        "appearance": judges.appearance.state_dict(),
    }
    weights = {"nets": nets, "accuracy": judges.accuracy}
    report = {"accuracy": judges.accuracy, **seconds}
    write_cache(path, weights, record, "accuracy.json", report)
    return _warn_if_weak(judges)


# --- caches of nets trained on Shapes (the judges, the frame classifier, the flow
# estimator): keyed by a hash of what they were trained on and how


def shapes_record(
    version: int, config: ShapesConfig, seed: int, training: Any, **extra: Any
) -> dict[str, Any]:
    """What a cache is keyed by: the trainer's ``version`` (and ``extra`` fields,
    such as a ``kind``), the Shapes version ``DATASET`` and ``config``, the seed and
    the training settings (a dataclass)."""
    return {
        "version": version,
        **extra,
        "dataset": DATASET,
        "shapes": config.as_dict(),
        "seed": seed,
        "training": asdict(training),
    }


def cache_folder(
    record: dict[str, Any], cache_dir: str | Path | None, default: Path
) -> tuple[str, Path]:
    """The hash of ``record`` and its folder under ``cache_dir`` (None: ``default``)."""
    key = ckpt.config_hash(record)
    return key, Path(cache_dir or default) / key


def fit_on_shapes(
    trainer: Any,
    config: ShapesConfig,
    training: Any,
    seed: int,
    out_dir: Path,
    progress: bool = True,
    *,
    with_flow: bool = False,
    checkpoint_every: int = 100,
) -> ShapesVideos:
    """``fit`` the Method ``trainer`` into ``out_dir`` on the CPU (the cache must not
    depend on the machine), once through ``training.steps × training.batch_size``
    train-split clips of ``config`` drawn with ``seed``, keeping the last checkpoint
    (an interrupted training resumes) and no samples; returns those clips."""
    size = training.steps * training.batch_size
    data = ShapesVideos(
        config, size=size, seed=seed, split="train", with_flow=with_flow
    )
    run = TrainConfig(
        out_dir=str(out_dir),
        steps=training.steps,
        batch_size=training.batch_size,
        seed=seed,
        device="cpu",
        checkpoint_every=checkpoint_every,
        keep_checkpoints=1,
        sample_every=0,
        progress=progress,
    )
    fit(trainer, data, run)
    return data


def write_cache(
    path: Path,
    weights: dict[str, Any],
    record: dict[str, Any],
    report_name: str,
    report: dict[str, Any],
) -> None:
    """The cache file ``path`` (``weights`` with ``record`` and its hash, written
    atomically) and the JSON ``report_name`` beside it (``report`` and ``record``)."""
    payload = {**weights, "config": record, "config_hash": ckpt.config_hash(record)}
    ckpt.save_checkpoint(path, payload)
    write_json(path.parent / report_name, {**report, **record})


def read_cache(path: Path, what: str, key: str) -> dict[str, Any]:
    """The payload of the cache file ``path`` (``what`` names it in errors); a
    ValueError when it was written for another hash than ``key``."""
    payload = ckpt.load_weights(path, what)
    if payload.get("config_hash") != key:
        raise ValueError(f"it was written for config hash {payload.get('config_hash')}")
    return payload


def read_cached(path: Path, what: str, read: Callable[[Path], T]) -> T | None:
    """``read(path)`` when the cache file ``path`` exists and reads; otherwise None,
    after a warning naming a damaged file, whose ``train/`` run beside it (which may
    be damaged too) is removed so that ``what`` is retrained from scratch. The
    caller's random state is left as it was."""
    if not path.exists():
        return None
    try:
        with ckpt.kept_random_state():
            return read(path)
    except Exception as error:  # noqa: BLE001 (any damage: retrain)
        warnings.warn(
            f"{what} cache {path} cannot be used ({type(error).__name__}: {error}); "
            f"retraining the {what} and overwriting it",
            stacklevel=3,
        )
        shutil.rmtree(path.parent / "train", ignore_errors=True)
        return None


def timed_training(train: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """``train()`` on one CPU thread, with its wall and CPU seconds and the load
    average, as a cache's report records them; the caller's random state is left as
    it was."""
    wall, cpu = time.perf_counter(), time.process_time()
    with cpu_threads(1), ckpt.kept_random_state():
        result = train()
    return result, {
        "train_wall_s": round(time.perf_counter() - wall, 1),
        "train_cpu_s": round(time.process_time() - cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }


def _warn_if_weak(judges: Judges) -> Judges:
    weak = {k: v for k, v in judges.accuracy.items() if v < WEAK_ACCURACY}
    if weak:
        warnings.warn(
            f"judges {judges.protocol} have test accuracy below {WEAK_ACCURACY}: "
            f"{weak}; train longer (load_judges(steps=...)) before trusting them",
            stacklevel=3,
        )
    return judges


def _read(
    path: Path, config: ShapesConfig, training: JudgeTraining, key: str
) -> Judges:
    payload = read_cache(path, "cached judges", key)
    nets = judge_nets(config, training.width)
    nets["action"].load_state_dict(payload["nets"]["action"])
    nets["appearance"].load_state_dict(payload["nets"]["appearance"])
    accuracy = {k: float(v) for k, v in payload["accuracy"].items()}
    return Judges(
        config, nets["action"], nets["appearance"], accuracy=accuracy, key=key
    )


__all__ = ["JudgeTraining", "load_judges"]
