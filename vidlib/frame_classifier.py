"""Training, testing and caching the frame classifier of
:mod:`vidlib.metrics.frame_is` (the residual-vectors paper's image IS, Table 5).

``load_frame_classifier(config)`` trains, once per Shapes configuration, a
:class:`~vidlib.metrics.frame_is.FrameClassifierNet` (D_I's architecture) on one
randomly chosen frame of each clip of ``ShapesVideos(config, split="train")``, as the
paper's classifier sees "individual, randomly chosen, frames of a video", through the
book's one training loop :func:`vidlib.train.fit` (a :class:`FrameClassifierTrainer`
is its Method): Adam on the cross-entropy of the joint frame class. D_I has
BatchNorm; the running statistics its momentum kept lagged the weights (at the tests'
small setting: test accuracy 0.79 in eval mode, 1.00 with batch statistics), so after
training they are set to the exact average over the first ``calibration_batches``
training batches (:func:`vidlib.nn.recalibrate_batchnorm`). Its test accuracy is
measured on one random frame of each of ``test_size`` clips of ``split="test"``.

As :mod:`vidlib.judging` does for the judges, the weights and accuracy are cached
atomically under ``<cache_dir>/<hash>/frame_classifier.pt`` (accuracy also in
``accuracy.json``), keyed by a hash of the Shapes config and version, the seed, the
training settings and ``FRAME_CLASSIFIER_VERSION``; training runs on the CPU, on one
thread, deterministically from ``seed``, leaves the caller's random state as it was,
and resumes from ``<cache_dir>/<hash>/train/`` when interrupted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vidlib import checkpoint as ckpt
from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.judging import (
    CACHE_DIR,
    WEAK_ACCURACY,
    cache_folder,
    fit_on_shapes,
    read_cache,
    read_cached,
    shapes_record,
    timed_training,
    write_cache,
)
from vidlib.metrics.frame_is import (
    MIN_RESOLUTION,
    FrameClassifier,
    FrameClassifierNet,
    frame_classes,
    frame_labels,
)
from vidlib.nn import recalibrate_batchnorm

FRAME_CLASSIFIER_VERSION = 1
"""Bump when the network or the training change: old caches are then ignored."""


@dataclass(frozen=True)
class FrameClassifierTraining:
    """How the classifier is trained; every field enters the cache hash. ``ndf`` is
    D_I's width (MoCoGAN's 64); Adam with D_I's betas (0.5, 0.999); afterwards the
    BatchNorm statistics are re-estimated over ``calibration_batches`` training
    batches (module docstring)."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    ndf: int = 64
    test_size: int = 1024
    calibration_batches: int = 16


def random_frames(
    videos: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``(B, C, T, H, W)`` -> ``(B, C, H, W)``: one uniformly chosen frame per clip."""
    b, t = videos.shape[0], videos.shape[2]
    pick = torch.randint(t, (b,), generator=generator)
    return videos[torch.arange(b), :, pick]


class FrameClassifierTrainer:
    """The classifier as a Method for ``fit``: one Adam step on the cross-entropy of
    one random frame per clip. It generates nothing (``sample_every=0``)."""

    appearance_code = motion_code = None

    def __init__(
        self,
        config: ShapesConfig,
        training: FrameClassifierTraining,
        record: dict[str, Any],
    ) -> None:
        with torch.random.fork_rng(devices=[]):  # fit seeds the rest of the run
            torch.manual_seed(record["seed"])
            net = FrameClassifierNet(len(frame_classes(config)), ndf=training.ndf)
        self.nets = {"classifier": net}
        self.opts = {
            "classifier": torch.optim.Adam(
                net.parameters(), lr=training.lr, betas=(0.5, 0.999)
            )
        }
        self.config = record
        self.shapes = config

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        logits = self.nets["classifier"](random_frames(batch["video"]))
        loss = F.cross_entropy(logits, frame_labels(batch, self.shapes))
        self.opts["classifier"].zero_grad(set_to_none=True)
        loss.backward()
        self.opts["classifier"].step()
        return {"loss": loss.item()}


@torch.no_grad()
def test_accuracy(classifier: FrameClassifier, size: int, seed: int) -> float:
    """Share of one random frame of each of ``size`` test-split clips whose joint
    frame class is predicted right."""
    data = ShapesVideos(classifier.config, size=size, seed=seed, split="test")
    loader = torch.utils.data.DataLoader(
        data, batch_size=256, generator=torch.Generator()
    )  # its own generators: the global random state stays untouched
    frames_gen, correct = torch.Generator().manual_seed(seed), 0
    for batch in loader:
        predicted = classifier.predict(random_frames(batch["video"], frames_gen))
        correct += int((predicted == frame_labels(batch, classifier.config)).sum())
    return correct / size


def train_frame_classifier(
    config: ShapesConfig,
    training: FrameClassifierTraining,
    record: dict[str, Any],
    out_dir: Path,
    progress: bool = True,
) -> FrameClassifier:
    """Train through ``fit`` into ``out_dir``; measure the test accuracy."""
    trainer = FrameClassifierTrainer(config, training, record)
    seed = record["seed"]
    data = fit_on_shapes(trainer, config, training, seed, out_dir, progress)
    net = trainer.nets["classifier"]
    batches = iter(
        torch.utils.data.DataLoader(
            data, batch_size=training.batch_size, generator=torch.Generator()
        )
    )
    frames_gen = torch.Generator().manual_seed(seed)
    recalibrate_batchnorm(
        net,
        lambda: net(random_frames(next(batches)["video"], frames_gen)),
        min(training.calibration_batches, training.steps),
    )
    key = ckpt.config_hash(record)
    classifier = FrameClassifier(config, net, accuracy={}, key=key)
    classifier.accuracy = {"frame": test_accuracy(classifier, training.test_size, seed)}
    return classifier


def load_frame_classifier(
    config: ShapesConfig,
    *,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    training: FrameClassifierTraining | None = None,
    progress: bool = True,
) -> FrameClassifier:
    """The frame classifier of ``config``: loaded from the cache (default cache_dir:
    ``vidlib.judging.CACHE_DIR``), or trained and cached first (module docstring). A
    cache file that cannot be read is reported with a warning and retrained."""
    if not isinstance(config, ShapesConfig):
        raise TypeError(f"config must be a ShapesConfig, got {type(config).__name__}")
    if config.resolution < MIN_RESOLUTION or len(frame_classes(config)) < 2:
        raise ValueError(
            f"the frame classifier needs resolution >= {MIN_RESOLUTION} (D_I's four "
            "stride-2 convs) and at least two frame classes (an appearance factor "
            f"with two values); got resolution={config.resolution}, classes="
            f"{len(frame_classes(config))}"
        )
    training = training or FrameClassifierTraining()
    record = shapes_record(
        FRAME_CLASSIFIER_VERSION, config, seed, training, kind="frame_classifier"
    )
    key, folder = cache_folder(record, cache_dir, CACHE_DIR)
    path = folder / "frame_classifier.pt"
    read = lambda p: _read(p, config, training, key)  # noqa: E731
    classifier = read_cached(path, "frame classifier", read)
    if classifier is None:
        classifier, seconds = timed_training(
            lambda: train_frame_classifier(
                config, training, record, folder / "train", progress
            )
        )
        weights = {"net": classifier.net.state_dict(), "accuracy": classifier.accuracy}
        report = {"accuracy": classifier.accuracy, **seconds}
        write_cache(path, weights, record, "accuracy.json", report)
    if classifier.accuracy["frame"] < WEAK_ACCURACY:
        warnings.warn(
            f"frame classifier {classifier.protocol} has test accuracy "
            f"{classifier.accuracy['frame']:.3f} < {WEAK_ACCURACY}; train longer "
            "(training=FrameClassifierTraining(steps=...)) before trusting it",
            stacklevel=2,
        )
    return classifier


def _read(
    path: Path, config: ShapesConfig, training: FrameClassifierTraining, key: str
) -> FrameClassifier:
    payload = read_cache(path, "a cached frame classifier", key)
    net = FrameClassifierNet(len(frame_classes(config)), ndf=training.ndf)
    net.load_state_dict(payload["net"])
    accuracy = {k: float(v) for k, v in payload["accuracy"].items()}
    return FrameClassifier(config, net, accuracy=accuracy, key=key)


__all__ = ["FrameClassifierTraining", "load_frame_classifier"]
