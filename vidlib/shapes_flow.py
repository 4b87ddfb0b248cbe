"""Training, evaluating and caching the embedded flow estimator on Shapes' flow.

AVLAE's motion encoder (Sec. 4.2) reads the flow of consecutive frames from a frozen
RAFT pretrained on Sintel, at 1/8 of the input resolution. Those weights cannot be
downloaded here, so ``load_flow_estimator(resolution, frames=...)`` trains a
:class:`~vidlib.flow.small.SmallFlow` once per setting on the ground-truth flow of
``ShapesVideos(ShapesConfig(resolution, frames), split="train", with_flow=True)``:
every shape, colour, background and action, so the estimator knows nothing of the
subset a chapter uses. Training goes through :func:`vidlib.train.fit` (a
:class:`FlowTrainer` is its Method), on the CPU, on one thread, deterministically from
``seed``, and leaves the caller's global random state as it was. The result comes back
frozen (:func:`vidlib.flow.freeze`), with its test report as ``estimator.report``.

Target on the estimator's grid. The ground truth is per pixel (the object's motion
on pixels it covers at least half, zero elsewhere); the estimator answers one vector
per ``stride × stride`` cell. The target of a cell is the **mean of the per-pixel
flow over the cell** (:func:`grid_flow`), as the multi-scale losses of PyTorch
FlowNets shrink dense targets (ClementPinard/FlowNetPytorch: ``F.interpolate(...,
mode="area")``). A cell the object half covers thus carries half its motion:
the target changes continuously as the object enters and leaves cells, and a shape
smaller than a cell (at 32×32 a cell is 8×8 pixels, a shape 8-12 pixels wide) still
moves the cells it overlaps. The value at the cell centre would be all or nothing,
and zero for a small shape between centres. TV-L1's per-pixel flow is brought to the
grid by the same mean.

Evaluation (``estimator.report``, also ``report.json`` beside the weights): the
end-point error (:func:`endpoint_error`, the mean Euclidean distance over cells) on
every consecutive pair of ``test_size`` clips of ``split="test"`` (other clips of the
same combinations, as :mod:`vidlib.judging` tests its judges) of the net, of zero
flow and of TV-L1 (``skimage.registration.optical_flow_tvl1`` on the frames' channel
mean at full resolution), over all cells and over the moving cells (non-zero target).

Training: Adam on the mean squared end-point error of ``pairs`` random frame pairs
of each of ``batch_size`` fresh clips per step, the learning rate constant for the
first half and decaying linearly to zero over the second. Trained on the end-point
error itself the net was still at zero flow after 300 steps (EPE's gradient has the
same size on the ~80 % still cells as on the moving ones, so zero is the median);
on the squared error it had left that plateau after 100.

The weights and the report are cached atomically under
``<cache_dir>/<hash>/flow.pt`` (report also in ``report.json``), keyed by a hash of
the Shapes config, the seed, the training settings and ``FLOW_VERSION``; ``fit``'s run
is kept in ``<cache_dir>/<hash>/train/``, so an interrupted training resumes.

``benchmarks/flow_estimator.py`` measures the training time and these end-point
errors at 32×32×8 and 64×64×16 with the default settings and writes them, with the
machine and its load, to ``book/results/flow_estimator_cpu.json`` (shown in the AVLAE
chapter). There the net is well below zero flow on the moving cells and TV-L1
(scikit-image's defaults) is above zero flow over all cells: it finds the object's
motion, but its smoothness term carries it into the textureless background, whose
ground truth is zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange, reduce
from torch import nn

from vidlib import checkpoint as ckpt
from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.flow import freeze
from vidlib.flow.small import SmallFlow, SmallFlowConfig
from vidlib.judging import (
    cache_folder,
    fit_on_shapes,
    read_cache,
    read_cached,
    shapes_record,
    timed_training,
    write_cache,
)
from vidlib.metrics.judges import cpu_threads
from vidlib.results import ROOT

FLOW_VERSION = 1
"""Bump when the network, the target or the training change: old caches are ignored."""
CACHE_DIR = ROOT / "_runs" / "flow"
"""Where ``load_flow_estimator`` caches estimators unless told otherwise."""
CHECKPOINT_EVERY = 200
"""Steps between ``fit``'s checkpoints, from which an interrupted training resumes."""


@dataclass(frozen=True)
class FlowTraining:
    """How the estimator is trained and tested; every field enters the cache hash."""

    steps: int = 2500
    batch_size: int = 16  # clips per step
    pairs: int = 3  # random consecutive frame pairs of each clip per step (<= T - 1)
    lr: float = 4e-3
    width: int = 8  # SmallFlowConfig.width
    stride: int = 8  # SmallFlowConfig.stride; AVLAE's RAFT flow: 1/8
    test_size: int = 128  # test-split clips in the report

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "pairs", "width", "test_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        SmallFlowConfig(self.width, self.stride)  # checks the stride

    def network(self) -> SmallFlow:
        """The estimator these settings train, untrained (for checks, counts and dry
        runs that need its architecture but not its weights)."""
        return SmallFlow(SmallFlowConfig(self.width, self.stride))


def grid_flow(flow: torch.Tensor, stride: int) -> torch.Tensor:
    """Per-pixel flow ``(..., H, W)`` → the target on the estimator's grid
    ``(..., H / stride, W / stride)``: the mean over each ``stride × stride`` cell
    (module docstring)."""
    h, w = flow.shape[-2:]
    if h % stride or w % stride:
        raise ValueError(
            f"flow of {h}x{w} pixels has no grid of stride {stride}: H and W must be "
            "divisible by the stride"
        )
    return reduce(flow, "... (h i) (w j) -> ... h w", "mean", i=stride, j=stride)


def endpoint_error(
    pred: torch.Tensor, target: torch.Tensor, moving_only: bool = False
) -> torch.Tensor:
    """Mean Euclidean distance between flows ``(B, 2, ...)`` (channels ``dx, dy``)
    over their cells; ``moving_only``: over the cells where ``target`` is non-zero
    (NaN when there are none)."""
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[1] != 2:
        raise ValueError(
            "pred and target must both be (B, 2, ...) flows, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    distance = (pred - target).pow(2).sum(1).sqrt()
    if moving_only:
        return distance[target.ne(0).any(1)].mean()
    return distance.mean()


def frame_pairs(
    video: torch.Tensor, flow: torch.Tensor, indices: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames ``t`` and ``t + 1`` and the flow between them for each ``t`` in
    ``indices`` ``(B, K)``, from clips ``(B, 3, T, H, W)`` and their per-pixel flow
    ``(B, 2, T - 1, H, W)``: three batches of ``B K`` pairs."""
    frames = rearrange(video, "b c t h w -> b t c h w")
    flow = rearrange(flow, "b c t h w -> b t c h w")
    clip = torch.arange(len(indices))[:, None]
    return tuple(
        rearrange(x[clip, i], "b k c h w -> (b k) c h w")
        for x, i in ((frames, indices), (frames, indices + 1), (flow, indices))
    )


def _check_clips(resolution: int, frames: int, stride: int) -> None:
    if frames < 2:
        raise ValueError(f"frames must be >= 2 (flow needs clips), got {frames}")
    if resolution % stride:
        raise ValueError(
            f"resolution must be divisible by the estimator's stride {stride}, "
            f"got {resolution}"
        )


class FlowTrainer:
    """The estimator as a Method for ``fit``: one Adam step on the squared end-point
    error of random frame pairs against :func:`grid_flow` targets (module
    docstring). It generates nothing (``fit`` runs it with ``sample_every=0``)."""

    appearance_code = motion_code = None

    def __init__(self, training: FlowTraining, record: dict[str, Any]) -> None:
        with torch.random.fork_rng(devices=[]):  # fit seeds the rest of the run
            torch.manual_seed(record["seed"])
            net = training.network()
        self.nets: dict[str, nn.Module] = {"flow": net}
        self.opts = {"flow": torch.optim.Adam(net.parameters(), lr=training.lr)}
        self.config = record
        self.training = training

    def learning_rate(self, step: int) -> float:
        """Constant for the first half of training, then linearly down to zero."""
        return self.training.lr * min(1.0, 2 * (1 - step / self.training.steps))

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        video, flow = batch["video"], batch["flow"]
        b, _, t = video.shape[:3]
        # random pairs from the global RNG, which fit seeds and checkpoints
        indices = torch.rand(b, t - 1).argsort(1)[:, : self.training.pairs]
        first, second, target = frame_pairs(video, flow, indices)
        target = grid_flow(target, self.training.stride)
        error = (self.nets["flow"](first, second) - target).pow(2).sum(1)
        loss = error.mean()
        opt = self.opts["flow"]
        for group in opt.param_groups:
            group["lr"] = self.learning_rate(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "epe": error.detach().sqrt().mean().item()}


def tvl1_flow(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """TV-L1 flow ``(N, 2, H, W)`` (``dx, dy`` in pixels, forward) between frames
    ``(N, 3, H, W)``, on their channel mean (every Shapes colour keeps a contrast of
    at least 1/6 to its background; luminance would nearly hide blue on black)."""
    # scikit-image is heavy to import and only the report needs it
    from skimage.registration import optical_flow_tvl1

    gray1, gray2 = (x.mean(1).double().numpy() for x in (first, second))
    flows = []
    for a, b in zip(gray1, gray2, strict=True):
        # rows, cols: reference a at p shows what b shows at p + (v, u), forward flow
        v, u = optical_flow_tvl1(a, b)
        flows.append(np.stack([u, v]))
    return torch.from_numpy(np.stack(flows)).float()


@torch.no_grad()
def evaluate(
    estimator: nn.Module,
    config: ShapesConfig,
    size: int,
    seed: int,
    tvl1: bool = True,
) -> dict[str, Any]:
    """End-point errors of ``estimator``, zero flow and TV-L1 (``tvl1``) on every
    consecutive pair of ``size`` test-split clips, over all and over moving cells."""
    data = ShapesVideos(config, size=size, seed=seed, split="test", with_flow=True)
    stride = estimator.stride
    estimates: dict[str, list[torch.Tensor]] = {"net": [], "zero": [], "tvl1": []}
    targets = []
    for start in range(0, size, 16):
        items = [data[i] for i in range(start, min(start + 16, size))]
        video = torch.stack([item["video"] for item in items])
        flow = torch.stack([item["flow"] for item in items])
        every = torch.arange(config.frames - 1).repeat(len(items), 1)
        first, second, target = frame_pairs(video, flow, every)
        targets.append(grid_flow(target, stride))
        estimates["net"].append(estimator(first, second))
        estimates["zero"].append(torch.zeros_like(targets[-1]))
        if tvl1:
            estimates["tvl1"].append(grid_flow(tvl1_flow(first, second), stride))
    target = torch.cat(targets)
    moving = target.ne(0).any(1)
    report: dict[str, Any] = {
        "test_clips": size,
        "pairs": len(target),
        "cells": moving.numel(),
        "moving_cells": int(moving.sum()),
        "mean_moving_target_px": round(float(target.norm(dim=1)[moving].mean()), 4),
    }
    for name, pieces in estimates.items():
        if pieces:
            pred = torch.cat(pieces)
            report[f"epe_{name}"] = {
                "all": round(float(endpoint_error(pred, target)), 4),
                "moving": round(float(endpoint_error(pred, target, True)), 4),
            }
    return report


def train_flow(
    config: ShapesConfig,
    training: FlowTraining,
    record: dict[str, Any],
    out_dir: Path,
    progress: bool = True,
) -> SmallFlow:
    """Train the estimator through ``fit`` into ``out_dir``."""
    trainer = FlowTrainer(training, record)
    fit_on_shapes(
        trainer,
        config,
        training,
        record["seed"],
        out_dir,
        progress,
        with_flow=True,
        checkpoint_every=CHECKPOINT_EVERY,
    )
    return trainer.nets["flow"]


def load_flow_estimator(
    resolution: int,
    *,
    frames: int = 16,
    seed: int = 0,
    training: FlowTraining | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> SmallFlow:
    """The estimator for Shapes clips of ``resolution × resolution × frames``, frozen:
    loaded from the cache, or trained, tested and cached first.

    Trained on every factor of ``ShapesConfig(resolution, frames)`` (``frames`` sets
    the motion per frame). ``estimator.report`` holds the test report and
    ``estimator.cache_key`` the hash; the cache is ``<cache_dir>/<hash>/flow.pt``
    (default cache_dir: ``CACHE_DIR``, ``<repo>/_runs/flow``) with ``report.json``
    beside it. A cache file that cannot be read is reported with a warning naming
    it, and the estimator is retrained from scratch.
    """
    training = training or FlowTraining()
    _check_clips(resolution, frames, training.stride)
    config = ShapesConfig(resolution=resolution, frames=frames)
    record = shapes_record(FLOW_VERSION, config, seed, training)
    key, folder = cache_folder(record, cache_dir, CACHE_DIR)
    path = folder / "flow.pt"
    cached = read_cached(path, "flow estimator", lambda p: _read(p, training, key))
    if cached is not None:
        return cached
    net, seconds = timed_training(
        lambda: train_flow(config, training, record, folder / "train", progress)
    )
    with cpu_threads(1), ckpt.kept_random_state():
        report = evaluate(freeze(net), config, training.test_size, seed)
    weights = {"net": net.state_dict(), "report": report}
    write_cache(path, weights, record, "report.json", {**report, **seconds})
    return _labelled(net, report, key)


def _labelled(net: SmallFlow, report: dict[str, Any], key: str) -> SmallFlow:
    net.report, net.cache_key = report, key
    return freeze(net)


def _read(path: Path, training: FlowTraining, key: str) -> SmallFlow:
    payload = read_cache(path, "a cached flow estimator", key)
    net = training.network()
    net.load_state_dict(payload["net"])
    return _labelled(net, payload["report"], key)


__all__ = [
    "FlowTraining",
    "endpoint_error",
    "grid_flow",
    "load_flow_estimator",
]
