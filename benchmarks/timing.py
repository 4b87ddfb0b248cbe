"""What the benchmarks share: median wall times, random batches for any Method, a
Method built for timing and one interval of its training, and one measurement of a
Method's training step, sampling throughput and peak memory."""

from __future__ import annotations

import itertools
import resource
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import torch

from vidlib.distributed import Ranks, Replicas
from vidlib.method import Method, build
from vidlib.train import compile_nets, fuse_adam


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls (synchronised on CUDA)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def random_batch(cfg: Any, batch_size: int, device: torch.device) -> dict:
    """A batch of uniform random clips in [-1, 1] of the config's size, with the item
    keys NAVS's latent tables index (``static_key``, ``transient_key``) drawn at
    random within their tables."""
    shape = (batch_size, getattr(cfg, "channels", 3), cfg.frames)
    video = torch.rand(*shape, cfg.resolution, cfg.resolution, device=device)
    batch = {"video": video * 2 - 1}
    for table in ("static", "transient"):
        key = getattr(cfg, f"{table}_key", None)
        if key is not None and key not in batch:
            rows = getattr(cfg, f"num_{table}")
            batch[key] = torch.randint(rows, (batch_size,), device=device)
    return batch


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory so far: allocated by torch on CUDA (since the last
    ``reset_peak_memory_stats``), the process's peak resident set on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB


def built(
    model: Mapping[str, Any], device: torch.device, *, untrained: bool = False
) -> Method:
    """The Method of a record's ``model`` section, drawn from seed 0, its nets on
    ``device`` (``untrained``: see :func:`measure`)."""
    torch.manual_seed(0)
    method = build(model, untrained=untrained)
    for net in method.nets.values():
        net.to(device)
    return method


def train_interval(
    method: Method, batch: dict, bf16: bool = False, replicas: Replicas | None = None
) -> tuple[Callable[[], None], int]:
    """A call that runs one interval of ``train_step`` on ``batch`` (in bf16 autocast
    with ``bf16``; each step as ``fit`` runs it across the ranks of ``replicas``), and
    its number of steps: ``r1_every`` with a lazy R1, which runs on one step in
    ``r1_every`` (so a step's time includes its share of R1), else 1."""
    cfg = method.cfg
    block = cfg.r1_every if getattr(cfg, "r1_gamma", 0) > 0 else 1
    steps = itertools.count(1)
    device = batch["video"].device

    def interval() -> None:
        for _ in range(block):
            ranked = replicas.step() if replicas else nullcontext()
            with ranked, torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                method.train_step(batch, next(steps))

    return interval, block


def measure(
    model: Mapping[str, Any],
    batch_size: int,
    device: torch.device,
    bf16: bool,
    repeats: int,
    *,
    compiled: bool = False,
    untrained: bool = False,
    ranks: Ranks | None = None,
) -> dict[str, float]:
    """Median train-step time, clips/s of training and of sampling, and peak memory
    of the Method of a record's ``model`` section on random clips.

    With a lazy R1 a repeat is a whole interval of ``r1_every`` steps, so the time per
    step includes its share of R1. ``compiled`` compiles the nets in place as ``fit``
    does with ``train.compile`` (:func:`vidlib.train.compile_nets`) before the first
    (warm-up) interval, whose time is ``first_interval_s``; ``untrained`` builds the
    resources a Method needs (AVLAE's flow estimator) untrained, which times the
    same. On CUDA its Adams step fused, as ``fit``'s do
    (:func:`vidlib.train.fuse_adam`). Started by torchrun, ``ranks`` train as ``fit``
    trains across them, each on ``batch_size`` clips (one GPU each): the clips/s are
    those of the global batch, the memory this rank's."""
    ranks = ranks or Ranks()
    device = ranks.local_device(device)
    method = built(model, device, untrained=untrained)
    cfg = method.cfg
    if device.type == "cuda":
        fuse_adam(method)
    if compiled:
        compile_nets(method)
    batch = random_batch(cfg, batch_size, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with Replicas(ranks, method, batch_size * ranks.world, device) as replicas:
        step, block = train_interval(method, batch, bf16, replicas)
        first_s = seconds(step, 1)  # warm-up (and compilation)
        step_s = seconds(step, repeats) / block
    gen = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def generate() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            method.generate(method.codes(batch_size, gen))

    method.nets["G"].eval()
    generate()  # warm-up (and compilation of the eval-mode graph)
    sample_s = seconds(generate, repeats)
    return {
        "resolution": cfg.resolution,
        "frames": cfg.frames,
        "first_interval_s": round(first_s, 2),
        "train_step_s": round(step_s, 4),
        "train_clips_per_s": round(batch_size * ranks.world / step_s, 2),
        "sample_clips_per_s": round(batch_size / sample_s, 2),
        "peak_memory_mib": round(peak_memory_mib(device), 1),
    }
