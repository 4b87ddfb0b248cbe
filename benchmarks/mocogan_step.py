"""MoCoGAN training-step time and sampling throughput, cpu-profile and paper sizes.

Run ``python benchmarks/mocogan_step.py [--device cuda] [--bf16] [--profiles ...]``.
Times ``MoCoGAN.train_step`` (one D update and one G update) on random clips after
warm-up steps, and ``generate`` for a batch of clips; prints one JSON line per
configuration. A profile's model and batch size come from its record
(``vidlib.record.profile_record``); ``paper`` is the config class's defaults.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Mapping
from typing import Any

import torch

from vidlib.method import build
from vidlib.record import profile_record

PAPER_BATCH = 32  # the paper's batch of clips


def configs(
    slug: str, profiles: list[str], paper_batch: int
) -> dict[str, tuple[dict[str, Any], int]]:
    """``{label: (model section, batch size)}`` of each profile (``paper``: the
    config class's defaults at ``paper_batch``)."""
    rows = {}
    for profile in profiles:
        if profile == "paper":
            rows[f"paper size, batch {paper_batch}"] = ({"name": slug}, paper_batch)
        else:
            record = profile_record(slug, profile)
            batch = record.train["batch_size"]
            data = record.data
            label = f"{profile} profile ({data.resolution}x{data.resolution}x"
            rows[f"{label}{data.frames}, batch {batch})"] = (record.model, batch)
    return rows


def seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls (synchronised on CUDA)."""
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def measure(
    model: Mapping[str, Any],
    batch_size: int,
    device: torch.device,
    bf16: bool,
    repeats: int,
) -> dict[str, float]:
    """Median train-step time and clips/s for training and for sampling of the
    Method of a record's ``model`` section."""
    torch.manual_seed(0)
    method = build(model)
    cfg = method.cfg
    for net in method.nets.values():
        net.to(device)
    shape = (batch_size, 3, cfg.frames, cfg.resolution, cfg.resolution)
    batch = {"video": torch.rand(shape, device=device) * 2 - 1}

    def step() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            method.train_step(batch, 0)

    @torch.no_grad()
    def generate() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            method.generate(method.codes(batch_size))

    step()  # warm-up
    step_s = seconds(step, repeats)
    method.nets["G"].eval()
    sample_s = seconds(generate, repeats)
    return {
        "train_step_s": round(step_s, 3),
        "train_clips_per_s": round(batch_size / step_s, 2),
        "sample_clips_per_s": round(batch_size / sample_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profiles", nargs="+", default=["cpu", "paper"])
    args = parser.parse_args()
    device = torch.device(args.device)
    for name, (model, batch_size) in configs(
        "mocogan", args.profiles, PAPER_BATCH
    ).items():
        timing = measure(model, batch_size, device, args.bf16, args.repeats)
        machine = {
            "device": str(device),
            "bf16": args.bf16,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
        }
        print(json.dumps({"config": name, **machine, **timing}))


if __name__ == "__main__":
    main()
