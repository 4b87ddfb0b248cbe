"""F-SA vs full spatio-temporal self-attention at the paper's F-SA position.

G3AN (Sec. 3.1) factorises self-attention into T-SA then S-SA because attention over
all T·H·W positions of a video feature map is costly. This benchmark measures that
claim at the paper's size: the feature map F_V after G3_3 of the 64×64×16 generator
(read from ``G3ANGenerator(G3ANConfig())`` on the meta device: 256 × 16 × 32 × 32),
once through vidlib's ``FactorisedSelfAttention`` and once through a full SAGAN
self-attention over all T·H·W positions with the same q, k, v (C → C/8, C/8, C) and
γ residual, defined here (vidlib has no full spatio-temporal attention: no paper of
the book uses one).

Each (attention, batch) pair runs in its own process, so its peak resident memory
(``resource.getrusage``, ``ru_maxrss``) is its own: a warm-up forward + backward, then
the median time of ``--repeats`` forward + backward passes. The analytic size of the
attention matrices (β of every T-SA and S-SA, or the one (T·H·W)² β of the full
attention, fp32) is given beside it. Run ``python benchmarks/fsa_attention.py
[--batches 1 4] [--repeats 2] [--threads N]``; writes
``book/results/fsa_attention_cpu.json`` (``--out`` to change) with the machine, its
load average and the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from einops import rearrange

from vidlib.models.g3an import G3ANConfig, G3ANGenerator
from vidlib.nn import AxialSelfAttention, FactorisedSelfAttention

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("fsa", "full")


class FullSelfAttention(AxialSelfAttention):
    """SAGAN self-attention in which every position of ``(T, H, W)`` attends over all
    T·H·W positions: the unfactorised alternative to F-SA (same q, k, v, γ)."""

    def __init__(self, channels: int, sn: bool = False) -> None:
        super().__init__(channels, "space", sn)
        self.axis = "time·space"

    def to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "b c t h w -> b (t h w) c")

    def from_sequences(self, seq: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        _, _, t, h, w = like.shape
        return rearrange(seq, "b (t h w) c -> b c t h w", t=t, h=h, w=w)


def paper_feature_map() -> tuple[int, int, int, int]:
    """``(C, T, H, W)`` of what F-SA sees in the paper-size G (64×64×16, after G3_3)."""
    seen = []
    with torch.device("meta"):
        cfg = G3ANConfig()
        g = G3ANGenerator(cfg)
        g.fsa.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].shape))
        g(torch.randn(1, cfg.dim_z_a), torch.randn(1, cfg.dim_z_m, 1))
    return tuple(seen[0][1:])


def attention_entries(kind: str, shape: tuple[int, ...], batch: int) -> int:
    """Entries of the attention matrices β of one forward pass."""
    _, t, h, w = shape
    if kind == "fsa":  # T-SA: (B·H·W) × T × T, then S-SA: (B·T) × HW × HW
        return batch * (h * w * t * t + t * (h * w) ** 2)
    return batch * (t * h * w) ** 2


def rss_gib() -> float:
    """Peak resident memory of this process so far (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(kind: str, batch: int, repeats: int) -> dict:
    """Forward + backward time and peak RSS of one attention (run in a child)."""
    shape = paper_feature_map()
    torch.manual_seed(0)
    channels = shape[0]
    sn = G3ANConfig().spectral_norm_g
    if kind == "fsa":
        net = FactorisedSelfAttention(channels, sn)
    else:
        net = FullSelfAttention(channels, sn)
    with torch.no_grad():  # γ = 1, so the output depends on the attention
        for p in net.parameters():
            if p.ndim == 0:
                p.fill_(1.0)
    x = torch.randn(batch, *shape, requires_grad=True)
    before = rss_gib()
    times = []
    for i in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        net(x).square().mean().backward()
        if i:
            times.append(time.perf_counter() - start)
        net.zero_grad(set_to_none=True)
        x.grad = None
    entries = attention_entries(kind, shape, batch)
    return {
        "attention": kind,
        "batch": batch,
        "feature_map_CxTxHxW": list(shape),
        "forward_backward_s": round(statistics.median(times), 3),
        "peak_rss_gib": round(rss_gib(), 3),
        "rss_before_forward_gib": round(before, 3),
        "attention_entries": entries,
        "attention_fp32_gib": round(entries * 4 / 2**30, 3),
    }


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out.stdout.strip() + (" (uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "BATCH"), help="internal")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        kind, batch = args.child
        print(json.dumps(measure(kind, int(batch), args.repeats)))
        return
    load_before = os.getloadavg()
    rows = []
    for batch in args.batches:
        for kind in args.kinds:
            child = [sys.executable, __file__, "--child", kind, str(batch)]
            child += ["--repeats", str(args.repeats), "--threads", str(args.threads)]
            path = os.pathsep.join(filter(None, [str(ROOT), os.getenv("PYTHONPATH")]))
            env = {**os.environ, "PYTHONPATH": path}  # this checkout's vidlib
            done = subprocess.run(child, capture_output=True, text=True, env=env)
            if done.returncode:
                row = {"attention": kind, "batch": batch, "error": done.stderr[-500:]}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
    load_after = os.getloadavg()
    machine = {
        "device": f"cpu, {platform.machine()}, {platform.processor() or 'unknown'}",
        "cores": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1_5_15_before": [round(v, 2) for v in load_before],
        "load_average_1_5_15_after": [round(v, 2) for v in load_after],
        "repeats": f"median of {args.repeats} after one warm-up",
        "created": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }
    print(json.dumps(machine))
    out = args.out or ROOT / "book" / "results" / "fsa_attention_cpu.json"
    result = {"machine": machine, "commit": commit(), "rows": rows}
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
