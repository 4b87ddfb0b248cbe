"""G3AN training-step time and sampling throughput, paper and cpu-profile sizes.

Run ``python benchmarks/g3an_step.py [--device cuda] [--bf16] [--threads N]``. Times
``G3AN.train_step`` (one D_V + D_I update and one G update) on random clips after a
warm-up step, and ``generate`` for a batch of clips; prints one JSON line per
configuration and writes them, with the machine and its load average, to
``book/results/g3an_step_<device>[_bf16].json`` (``--out`` to change), which the
chapter shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch
from mocogan_step import measure  # benchmarks/ is sys.path[0] when run as a script

from vidlib.models.g3an import G3AN, G3ANConfig

CONFIGS = {
    "paper size (64x64x16, ngf = ndf = 64, F-SA at G3_3, batch 8)": (G3ANConfig(), 8),
    # the earlier cpu recipe; notebooks/params/g3an.cpu.yaml now has temporal_upsamples
    # 0 and an EMA of G (the training cell of the chapter times that one)
    "cpu profile (32x32x8, ngf 8, ndf 16, F-SA at G3_1, batch 16)": (
        G3ANConfig(
            resolution=32,
            frames=8,
            temporal_upsamples=1,
            ngf=8,
            ndf=16,
            fsa_position=1,
            video_discriminator="2+1d",
            video_temporal_padding=1,
            image_frames=8,
            lr_g=5e-4,
            lr_d=1e-4,
        ),
        16,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    rows = []
    for name, (cfg, batch_size) in CONFIGS.items():
        timing = measure(G3AN, cfg, batch_size, device, args.bf16, args.repeats)
        rows.append({"config": name, **timing})
        print(json.dumps(rows[-1]), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    machine = (
        f"{name}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, bf16 autocast {args.bf16}, "
        f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after, "
        f"median of {args.repeats}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(machine)
    suffix = f"{device.type}{'_bf16' if args.bf16 else ''}"
    results = Path(__file__).parents[1] / "book" / "results"
    out = args.out or results / f"g3an_step_{suffix}.json"
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
