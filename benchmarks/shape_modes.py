"""Why the book's video GANs draw too few squares: the residual chapter's image
baseline (MoCoGAN's G_I and D_I on single frames, at the residual cpu record's
settings) judged by the Shapes judges at its checkpoints, with one setting changed
per row.

Run ``python benchmarks/shape_modes.py [--steps 20000] [--every 2000]
[--lever-steps 2000] [--threads 2]``.

Every video GAN of the book misses the bar's shape score, and the judges call few of
its clips squares. The image baseline shows the same without any motion, and a step
of it costs a fraction of a video GAN's, so its rows can be trained far longer. At
each judged checkpoint, 512 images of the EMA generator (codes of a fixed seed) are
held still for a clip's length and judged like the residual chapter's baseline; the
row records the shape judge's Inception Score, its ratio to that of 512 held-out real
frames held still (the bar asks for 0.8), and the shares of the judged shapes. Rows:

* ``cpu record``: the baseline as the residual chapter trains it, to ``--steps``;
* ``nearest upsampling``: G_I's stride-2 transposed convs replaced by nearest
  doubling and a 3×3 conv (``image_upsample``), also to ``--steps``;
* one setting changed, to ``--lever-steps``: D or G four times wider, no EMA of G,
  no R1, the paper's learning rate, the hinge loss, Adam (0, 0.99), batches of 64.

Training resumes from the rows' checkpoints under ``_runs/bench/shape_modes``.
Writes ``book/results/shape_modes_cpu.json`` with the machine, its load and the
provenance of :func:`vidlib.results.provenance`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from einops import repeat

from vidlib.experiment import held_out, run_experiment
from vidlib.judging import load_judges
from vidlib.method import eval_mode
from vidlib.metrics.inception import inception_score
from vidlib.metrics.judges import Judges
from vidlib.record import Record, profile_record
from vidlib.results import provenance

IMAGES = 512  # generated images and held-out frames judged per checkpoint
LEVER_EVERY = 1000  # judged steps of the rows with one setting changed
LONG: dict[str, dict[str, Any]] = {  # rows trained to --steps
    "cpu record": {},
    "nearest upsampling": {"model.image_upsample": "nearest"},
}
LEVERS: dict[str, dict[str, Any]] = {
    "D 4x wider (ndf 64)": {"model.ndf": 64},
    "G 2x wider (ngf 64)": {"model.ngf": 64},
    "no EMA of G": {"model.ema_decay": 0.0},
    "no R1": {"model.r1_gamma": 0.0},
    "lr 2e-4 (paper)": {"model.lr_g": 2e-4, "model.lr_d": 2e-4},
    "hinge loss": {"model.loss": "hinge"},
    "Adam (0, 0.99)": {"model.beta1": 0.0, "model.beta2": 0.99},
    "batch 64": {"train.batch_size": 64},
}


def image_baseline() -> Record:
    """The residual chapter's image baseline record: its cpu record's shared GAN
    settings with the ImageGAN model, judged by nothing during training."""
    record = profile_record("residual", "cpu")
    image = record.with_model("image_gan", {"dim_z": record.model["dim_z"]})
    return image.replace(
        {
            "eval.metrics": [],
            "train.sample_every": 0,
            "train.keep_checkpoints": 1,
            "train.checkpoint_every": LEVER_EVERY,
        },
        "benchmarks/shape_modes.py",
    )


def stills(images: torch.Tensor, frames: int) -> torch.Tensor:
    """Images ``(N, C, H, W)`` held still: clips ``(N, C, T, H, W)``."""
    return repeat(images, "n c h w -> n c t h w", t=frames).contiguous()


def shape_is(judges: Judges, clips: torch.Tensor) -> float:
    """Inception Score of the shape judge on ``clips``."""
    return inception_score(judges.appearance_logits(clips)["shape"].softmax(-1))[0]


def judged(
    record: Record, out_dir: Path, steps: int, judges: Judges, real_is: float
) -> dict[str, Any]:
    """Train ``record`` to ``steps`` (resuming) and judge its generator."""
    start = time.perf_counter()
    exp = run_experiment(record.replace({"train.steps": steps}), out_dir)
    trained = time.perf_counter() - start
    method = exp.method
    with torch.no_grad(), eval_mode(method):
        codes = method.codes(IMAGES, torch.Generator().manual_seed(record.seed + 1))
        clips = stills(method.generate(codes)[:, :, 0], record.data.frames)
    score = shape_is(judges, clips)
    return {
        "step": steps,
        "shape_is": score,
        "shape_is_over_real": score / real_is,
        "shape_shares": judges.shares(clips)["shape"],
        "train_s_since_previous_point": trained,
    }


def run_row(
    name: str,
    record: Record,
    at: list[int],
    root: Path,
    judges: Judges,
    real_is: float,
) -> dict[str, Any]:
    out_dir = root / record.training_key()
    points = []
    for steps in at:
        points.append(judged(record, out_dir, steps, judges, real_is))
        print(json.dumps({"row": name, **points[-1]}), flush=True)
    return {"row": name, "record": record.as_dict(), "points": points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--every", type=int, default=2000)
    parser.add_argument("--lever-steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    load_before = os.getloadavg()[0]
    base = image_baseline().replace({"train.num_threads": args.threads})
    judges = load_judges(base.data.shapes_config, progress=False)
    real = stills(held_out(base, IMAGES)[:, :, 0], base.data.frames)
    real_is = shape_is(judges, real)
    root = repo / "_runs/bench/shape_modes"
    long_at = list(range(args.every, args.steps + 1, args.every))
    rows = [
        run_row(name, base.replace(overrides), long_at, root, judges, real_is)
        for name, overrides in LONG.items()
    ]
    lever_at = list(range(LEVER_EVERY, args.lever_steps + 1, LEVER_EVERY))
    for name, overrides in LEVERS.items():
        rows.append(
            run_row(name, base.replace(overrides), lever_at, root, judges, real_is)
        )
    machine = (
        f"cpu, {platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} torch threads, load average {load_before:.1f} "
        f"before / {os.getloadavg()[0]:.1f} after"
    )
    payload = {
        "machine": machine,
        "images": IMAGES,
        "real_shape_is": real_is,
        "real_shape_shares": judges.shares(real)["shape"],
        "rows": rows,
    }
    out = args.out or repo / "book/results/shape_modes_cpu.json"
    out.write_text(json.dumps(payload | provenance(), indent=2) + "\n")


if __name__ == "__main__":
    main()
