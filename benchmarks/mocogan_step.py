"""MoCoGAN training-step time and sampling throughput, cpu-profile and paper sizes.

Run ``python benchmarks/mocogan_step.py [--device cuda] [--bf16] [--threads N]
[--profiles ...]``. Times ``MoCoGAN.train_step`` (one D update and one G update) on
random clips after warm-up steps, and ``generate`` for a batch of clips; prints one JSON
line per configuration and writes them, with the machine and its load average, to
``book/results/mocogan_step_<device>[_bf16].json``. A profile's model and batch size
come from its record (``vidlib.record.profile_record``); a record with a lazy R1 is
also timed with R1 off (the step before and after R1); ``paper`` is the config class's
defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from timing import measure  # benchmarks/ is sys.path[0] as a script

from vidlib.record import profile_record

PAPER_BATCH = 32  # the paper's batch of clips


def configs(
    slug: str,
    profiles: list[str],
    paper_batch: int,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, tuple[dict[str, Any], int]]:
    """``{label: (model section, batch size)}`` of each profile (``paper``: the
    config class's defaults at ``paper_batch``), and of each profile's record with
    the model overrides of each of ``variants`` (``{label: overrides}``)."""
    rows = {}
    for profile in profiles:
        if profile == "paper":
            rows[f"paper size, batch {paper_batch}"] = ({"name": slug}, paper_batch)
        else:
            record = profile_record(slug, profile)
            batch = record.train["batch_size"]
            data = record.data
            label = f"{profile} profile ({data.resolution}x{data.resolution}x"
            label += f"{data.frames}, batch {batch}"
            if record.model.get("r1_gamma", 0) > 0:  # also the step without R1
                rows[f"{label}, R1 off)"] = ({**record.model, "r1_gamma": 0.0}, batch)
                label += f", lazy R1 every {record.model.get('r1_every', 16)} steps"
            rows[f"{label})"] = (record.model, batch)
            for name, overrides in (variants or {}).items():
                rows[f"{label}, {name})"] = ({**record.model, **overrides}, batch)
    return rows


def benchmark(
    slug: str,
    paper_batch: int,
    doc: str,
    profiles: list[str],
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Command line shared by the step benchmarks: time each configuration, print
    one JSON line per row and write the rows with the machine and its load average
    to ``book/results/<slug>_step_<device>[_bf16].json`` (``--out`` to change)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profiles", nargs="+", default=profiles)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    rows = []
    rows_to_time = configs(slug, args.profiles, paper_batch, variants)
    for name, (model, batch_size) in rows_to_time.items():
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
    out = args.out or results / f"{slug}_step_{suffix}.json"
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    benchmark("mocogan", PAPER_BATCH, __doc__, ["cpu", "reference", "paper"])
