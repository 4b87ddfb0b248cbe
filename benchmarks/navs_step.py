"""NAVS training-step time at the paper's size, and its growth with the latent tables.

Run ``python benchmarks/navs_step.py [--device cuda] [--threads N]``. Times
``NAVS.train_step`` (both stages of Eq. 3, the latent update and projection) on random
clips after a warm-up step:

* the paper's size (64x64x16, D_s = 56, D_t = 200, GRU 500, DCGAN width 64, batch 16)
  and the cpu profile's size (the model section of ``notebooks/params/navs.cpu.yaml``);
* the cpu-profile networks with one static and one transient latent per training
  video (the Chair-CAD layout) for three numbers of videos, with sparse latent
  gradients (a step touches only the batch's rows) and with dense ones.

``--quick`` measures only the cpu profile with 256 videos (a check that it runs).

Writes ``book/results/navs_step.json`` (or ``--out``) with the machine and its load
average, which the NAVS chapter shows, and prints each row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from timing import seconds  # benchmarks/ is sys.path[0] when run as a script

from vidlib.method import build
from vidlib.record import profile_record

ROOT = Path(__file__).resolve().parents[1]


def per_video(model: dict, videos: int, **overrides) -> dict:
    """``model`` with one static and one transient row per video (key ``index``)."""
    tables = dict(static_key="index", transient_key="index")
    return model | tables | dict(num_static=videos, num_transient=videos) | overrides


def step_time(
    model: dict, batch_size: int, device: torch.device, repeats: int
) -> float:
    """Median seconds of one ``train_step`` on random clips of random table rows."""
    torch.manual_seed(0)
    method = build(model)
    cfg = method.cfg
    for net in method.nets.values():
        net.to(device)
    shape = (batch_size, cfg.channels, cfg.frames, cfg.resolution, cfg.resolution)
    video = torch.rand(shape, device=device) * 2 - 1

    def step() -> None:
        batch = {
            "video": video,
            "index": torch.randint(cfg.num_static, (batch_size,), device=device),
        }
        method.train_step(batch, 0)

    step()  # warm-up
    return seconds(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "book/results/navs_step.json"))
    parser.add_argument("--quick", action="store_true", help="cpu profile only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = os.getloadavg()
    cpu = profile_record("navs", "cpu").model
    settings = {}
    if not args.quick:
        paper = {"name": "navs", "num_static": 90, "num_transient": 90}
        name = "paper size (64x64x16, D_s 56, D_t 200, GRU 500, ngf 64), batch 16"
        settings[name] = (paper, 16)
        name = "cpu profile (32x32x8, D_s 32, D_t 16, GRU 64, ngf 16), batch 16"
        settings[name] = (per_video(cpu, 256), 16)
    for videos in (256,) if args.quick else (256, 4096, 65536):
        for sparse in (True, False):
            name = (
                f"cpu profile, {videos} videos (per-video tables), "
                f"{'sparse' if sparse else 'dense'} latent grads"
            )
            settings[name] = (per_video(cpu, videos, sparse_latents=sparse), 16)
    rows = []
    for name, (model, batch_size) in settings.items():
        s = step_time(model, batch_size, device, args.repeats)
        rows.append({"setting": name, "seconds_per_step": round(s, 4)})
        print(json.dumps(rows[-1]), flush=True)
    record = {
        "machine": (
            f"{platform.machine()} {os.cpu_count()} cores, device {device}, "
            f"{args.threads} torch thread(s), torch {torch.__version__}"
        ),
        "load": [round(x, 2) for x in load],
        "repeats": args.repeats,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
