"""Training time and test end-point errors of the embedded flow estimator.

Run ``python benchmarks/flow_estimator.py [--sizes 32x8 64x16] [--seed 0]``: trains
:func:`vidlib.shapes_flow.load_flow_estimator` with its default settings for each
``<resolution>x<frames>`` into a fresh cache (``--cache-dir`` to reuse one), on one
CPU thread, and writes one row per size (train wall and CPU seconds, the EPE table of
the net, zero flow and TV-L1 over all and moving cells), with the machine and its load
average, to ``book/results/flow_estimator_cpu.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vidlib.results import ROOT, write_json
from vidlib.shapes_flow import FlowTraining, load_flow_estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["32x8", "64x16"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", help="default: a fresh temporary folder")
    parser.add_argument(
        "--out", default=str(ROOT / "book" / "results" / "flow_estimator_cpu.json")
    )
    args = parser.parse_args()
    cache_dir = Path(args.cache_dir or tempfile.mkdtemp(prefix="flow-"))
    before = os.getloadavg()[0]
    rows = []
    for size in args.sizes:
        resolution, frames = (int(x) for x in size.split("x"))
        began = time.perf_counter()
        estimator = load_flow_estimator(
            resolution, frames=frames, seed=args.seed, cache_dir=cache_dir
        )
        folder = cache_dir / estimator.cache_key
        saved = json.loads((folder / "report.json").read_text())
        row = {
            "config": f"{resolution}x{resolution}x{frames}, every Shapes factor",
            "train_wall_s": saved["train_wall_s"],
            "train_cpu_s": saved["train_cpu_s"],
            "train_and_test_wall_s": round(time.perf_counter() - began, 1),
            **estimator.report,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    machine = (
        f"cpu, {platform.machine()}, {os.cpu_count()} cores, 1 torch thread, torch "
        f"{torch.__version__}, load average {before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after, seed {args.seed}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    write_json(
        Path(args.out),
        {"machine": machine, "training": asdict(FlowTraining()), "rows": rows},
    )


if __name__ == "__main__":
    main()
