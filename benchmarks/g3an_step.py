"""G3AN training-step time and sampling throughput, paper and cpu-profile sizes.

Run ``python benchmarks/g3an_step.py [--device cuda] [--bf16] [--threads N]
[--profiles ...]``: a profile's model and batch come from its record, ``paper`` is
the config class's defaults at batch 8. Times ``G3AN.train_step`` (one D_V + D_I update
and one G update) on random clips after a warm-up step, and ``generate`` for a batch of
clips; prints one JSON line per configuration and writes them, with the machine and
its load average, to ``book/results/g3an_step_<device>[_bf16].json`` (``--out`` to
change), which the chapter shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch
from mocogan_step import configs, measure  # benchmarks/ is sys.path[0] as a script

PAPER_BATCH = 8  # not the official 96: a paper-size step takes minutes on a CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profiles", nargs="+", default=["paper", "cpu"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    rows = []
    for name, (model, batch_size) in configs(
        "g3an", args.profiles, PAPER_BATCH
    ).items():
        timing = measure(model, batch_size, device, args.bf16, args.repeats)
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
