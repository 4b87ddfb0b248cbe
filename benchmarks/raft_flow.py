"""RAFT flow time on one clip: AVLAE's motion-encoder input, small and large.

Run ``python benchmarks/raft_flow.py [--device cuda] [--threads N] [--sizes ...]
[--resolution 64] [--frames 16] [--updates 12]``. Times :func:`vidlib.flow.video_flow`
of a frozen, randomly initialised RAFT (:func:`vidlib.flow.raft.raft`; the weights do
not change the time) on one random clip, i.e. ``frames − 1`` pairs in one batch: the
forward alone (no grad) and forward + backward to the clip (how AVLAE's generator
gets its gradient). Prints one JSON line per size and writes them, with the machine
and its load average, to ``book/results/raft_flow_<device>.json`` (``--out`` to
change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch
from timing import seconds  # benchmarks/ is sys.path[0] as a script

from vidlib.flow import freeze, video_flow
from vidlib.flow.raft import raft


def measure(
    size: str, clip: torch.Tensor, updates: int, repeats: int
) -> dict[str, float]:
    """Median seconds of the clip's flow without and with the backward pass."""
    torch.manual_seed(0)
    model = freeze(raft(size, num_flow_updates=updates)).to(clip.device)

    @torch.no_grad()
    def forward() -> None:
        video_flow(model, clip)

    def forward_backward() -> None:
        video = clip.detach().requires_grad_()
        video_flow(model, video).square().mean().backward()

    forward()  # warm-up
    forward_s = seconds(forward, repeats)
    forward_backward()
    backward_s = seconds(forward_backward, repeats)
    return {
        "forward_s": round(forward_s, 3),
        "forward_backward_s": round(backward_s, 3),
        "pairs_per_s": round((clip.shape[2] - 1) / forward_s, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="0: torch default")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", default=["small", "large"])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--updates", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    res, frames = args.resolution, args.frames
    clip = torch.rand(1, 3, frames, res, res, device=device) * 2 - 1
    rows = []
    for size in args.sizes:
        timing = measure(size, clip, args.updates, args.repeats)
        config = f"raft_{size}, {res}x{res}, {frames - 1} pairs, {args.updates} updates"
        rows.append({"config": config, **timing})
        print(json.dumps(rows[-1]), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    machine = (
        f"{name}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, "
        f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after, "
        f"median of {args.repeats}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(machine)
    results = Path(__file__).parents[1] / "book" / "results"
    out = args.out or results / f"raft_flow_{device.type}.json"
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
