"""MoCoGAN training-step time and sampling throughput, cpu-profile and paper sizes.

Run ``python benchmarks/mocogan_step.py [--device cuda] [--bf16]``. Times
``MoCoGAN.train_step`` (one D update and one G update) on random clips after warm-up
steps, and ``generate`` for a batch of clips; prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from typing import Any

import torch

from vidlib.models.mocogan import MoCoGAN, MoCoGANConfig
from vidlib.method import Method

CONFIGS = {
    "cpu profile (32x32x8, ngf 32, ndf 16, batch 16)": (
        MoCoGANConfig(
            resolution=32,
            frames=8,
            ngf=32,
            ndf=16,
            video_temporal_padding=1,
            image_frames=8,
            ema_decay=0.99,
        ),
        16,
    ),
    "paper size (64x64x16, ngf = ndf = 64, batch 32)": (MoCoGANConfig(), 32),
}


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
    method_class: Callable[[Any], Method],
    cfg: Any,
    batch_size: int,
    device: torch.device,
    bf16: bool,
    repeats: int,
) -> dict[str, float]:
    """Median train-step time and clips/s for training and for sampling of
    ``method_class(cfg)`` (any Method whose config has frames and resolution)."""
    torch.manual_seed(0)
    method = method_class(cfg)
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
    args = parser.parse_args()
    device = torch.device(args.device)
    for name, (cfg, batch_size) in CONFIGS.items():
        timing = measure(MoCoGAN, cfg, batch_size, device, args.bf16, args.repeats)
        machine = {
            "device": str(device),
            "bf16": args.bf16,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
        }
        print(json.dumps({"config": name, **machine, **timing}))


if __name__ == "__main__":
    main()
