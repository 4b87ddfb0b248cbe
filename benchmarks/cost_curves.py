"""Cost curves: how a training step's time grows with the clip's resolution, its
frames and the batch, one axis at a time from the cpu profile's record.

Run ``python benchmarks/cost_curves.py [--device cuda] [--models ...]``. For each
model (MoCoGAN and G3AN by default) it times ``train_step`` as
``benchmarks/gpu.py`` does (eager fp32, the median of ``--repeats`` steps on random
clips after a warm-up; with a lazy R1 whole intervals) at the record's size with one
of resolution, frames or batch changed. A value the model's config refuses is
recorded with the reason. Writes ``book/results/benchmarks/cost/<device>.json`` with
the machine and its load, which the compute chapter plots beside NAVS's step time
against its number of training videos (``benchmarks/navs_step.py``).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from gpu import RESULTS, device_slug, git_sha, machine, model_and_batch
from timing import measure

#: the values of each axis (the record's own value is among them)
AXES = {
    "resolution": (16, 32, 64),
    "frames": (4, 8, 16),
    "batch": (4, 8, 16, 32),
}


def points(name: str) -> list[tuple[str, int, dict[str, Any], int]]:
    """``(axis, value, model section, batch)`` of every point of model ``name``."""
    model, batch = model_and_batch(name, "cpu")
    out = []
    for axis, values in AXES.items():
        for value in values:
            if axis == "batch":
                out.append((axis, value, model, value))
            else:
                out.append((axis, value, {**model, axis: value}, batch))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["mocogan", "g3an"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    record = {
        "machine": machine(device),
        "git_sha": git_sha(),
        "repeats": args.repeats,
        "load_before": round(os.getloadavg()[0], 2),
        "rows": [],
    }
    for name in args.models:
        for axis, value, model, batch in points(name):
            row: dict[str, Any] = {"model": name, "axis": axis, "value": value}
            try:
                timing = measure(model, batch, device, False, args.repeats)
                row |= {"batch": batch, "train_step_s": timing["train_step_s"]}
            except ValueError as error:  # a size the config refuses
                row["skipped"] = str(error)[:200]
            record["rows"].append(row)
            print(json.dumps(row), flush=True)
    record["load_after"] = round(os.getloadavg()[0], 2)
    record["finished"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    out = args.out or RESULTS / "cost" / f"{device_slug(device)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
