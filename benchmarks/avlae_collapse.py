"""Where AVLAE's collapse starts: how varied its generator's clips stay over
the first training steps, for Alg. 1 and for pieces of it.

Run ``python benchmarks/avlae_collapse.py [--steps 160] [--seeds 0 1 2] [--threads 2]``.
The *diversity* of a generator is the mean over pixels of the standard deviation
over 64 fixed codes, divided by the standard deviation of all pixels of those 64
clips: 0 when every code gives the same clip, about 1 when the clips share nothing.
It is measured on the live G in training mode (BatchNorm on the batch's statistics,
as in a training step), at the listed steps. Rows:

* Alg. 1 (Steps I-III) with the paper's G (the cpu record without its switches
  ``w_stream`` and ``w_every_level``), at the cpu record's learning rate and at the
  paper's, and as Table 3's last row (K1 = K2 = 0, no E_M: a video GAN with AVLAE's
  D_I∘E_A and D_V); then at the cpu record, and with ``w_stream`` alone;
* one loop of the non-saturating GAN loss (Adam at the record's settings, one D and
  one G update per batch) with one video discriminator: AVLAE's paper G against
  AVLAE's D_V and against MoCoGAN's (:class:`vidlib.nn.PatchVideoDiscriminator`,
  full 3D convs with BatchNorm); AVLAE's cpu G against AVLAE's D_V; G3AN's cpu G
  against AVLAE's D_V, whole, without each of its two side streams (G_T, G_S;
  G3AN's Table 3 ablates them), and without G_S and G_T's BatchNorm.

Writes ``book/results/avlae_collapse_cpu.json`` with the machine, its load and the
provenance of :func:`vidlib.results.provenance`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from vidlib.data.spec import open_data
from vidlib.losses import discriminator_loss, generator_loss
from vidlib.method import Method, build
from vidlib.nn import PatchVideoDiscriminator
from vidlib.record import Record, profile_record
from vidlib.results import provenance
from vidlib.train import StepBatchSampler, seed_everything

CODES = 64  # fixed codes the diversity is measured on
AT = (0, 10, 20, 40, 80, 160)  # steps it is measured at (those <= --steps)
NO_E_M = {"model.motion_encoder": False, "model.k1": 0.0, "model.k2": 0.0}
NO_EMA = {"model.ema_decay": 0.0}  # generate() then runs the live G
PAPER_G = {"model.w_stream": False, "model.w_every_level": False}


def diversity(method: Method, codes: dict[str, torch.Tensor]) -> float:
    """Std over codes, averaged over pixels, ÷ the std of all pixels; live G in
    training mode."""
    method.nets["G"].train()
    with torch.no_grad():
        clips = method.generate(codes)
    return (clips.std(0).mean() / clips.std()).item()


def batches(record: Record, seed: int) -> DataLoader:
    """The record's training batches in the order ``fit`` draws them for ``seed``
    (:class:`vidlib.train.StepBatchSampler`), without end."""
    data = open_data(record.data, "train", seed)
    sampler = StepBatchSampler(len(data), record.train["batch_size"], seed, 0)
    return DataLoader(data, batch_sampler=sampler)


def curve(
    method: Method,
    record: Record,
    step: Callable[[dict, int], Any],
    seed: int,
    steps: int,
) -> list[float]:
    """Diversity at each step of ``AT`` up to ``steps``; ``step(batch, i)`` trains."""
    codes = method.codes(CODES, torch.Generator().manual_seed(seed + 1000))
    values, data = [], iter(batches(record, seed))
    for i in range(steps + 1):
        if i in AT:
            values.append(diversity(method, codes))
        if i < steps:
            step(next(data), i + 1)
    return values


def algorithm_1(overrides: dict[str, Any]) -> Callable[[int, int], list[float]]:
    """Alg. 1 (``AVLAE.train_step``) on the cpu record with ``overrides``."""

    def run(seed: int, steps: int) -> list[float]:
        record = profile_record("avlae", "cpu").replace({**overrides, **NO_EMA})
        seed_everything(seed)
        method = build(record.model)
        return curve(method, record, method.train_step, seed, steps)

    return run


def without_stream_norm(method: Method) -> None:
    """G3AN's G with each level's temporal stream G_T losing its BatchNorm."""
    for level in method.nets["G"].levels:
        conv, _, relu = level.temporal
        level.temporal = nn.Sequential(conv, relu)


def gan_loop(
    generator: str,
    video_d: str,
    overrides: dict[str, Any] | None = None,
    edit: Callable[[Method], None] | None = None,
) -> Callable[[int, int], list[float]]:
    """``generator``'s cpu G (``"avlae"`` or ``"g3an"``, its record changed by
    ``overrides``, its Method by ``edit``) against one video discriminator
    (``"avlae"``: AVLAE's D_V without E_M's code; ``"mocogan"``)."""

    def run(seed: int, steps: int) -> list[float]:
        seed_everything(seed)
        avlae = profile_record("avlae", "cpu").replace(NO_E_M)
        record = avlae if generator == "avlae" else profile_record(generator, "cpu")
        method = build(record.replace({**NO_EMA, **(overrides or {})}).model)
        if edit is not None:
            edit(method)
        avlae_method = build(avlae.model)
        cfg = avlae_method.cfg
        D: nn.Module
        if video_d == "avlae":
            D = avlae_method.nets["D_V"]
        else:
            D = PatchVideoDiscriminator(
                cfg.channels, cfg.ndf, cfg.resolution, cfg.frames, 1
            )
        betas = (cfg.beta1, cfg.beta2)
        opt_d = torch.optim.Adam(D.parameters(), cfg.lr, betas)
        opt_g = torch.optim.Adam(method.nets["G"].parameters(), cfg.lr, betas)

        def logits(video: torch.Tensor) -> torch.Tensor:
            return D(video).flatten()

        def step(batch: dict, _: int) -> None:
            real = batch["video"]
            with torch.no_grad():
                fake = method.generate(method.codes(real.shape[0]))
            loss = discriminator_loss(logits(real), logits(fake), cfg.loss)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            loss = generator_loss(
                logits(method.generate(method.codes(real.shape[0]))), cfg.loss
            )
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()

        return curve(method, avlae, step, seed, steps)

    return run


ROWS: dict[str, Callable[[int, int], list[float]]] = {
    "Alg. 1, paper's G (cpu record without its two G switches)": algorithm_1(PAPER_G),
    "Alg. 1, paper's G at the paper's lr 2e-4": algorithm_1(
        {**PAPER_G, "model.lr": 2e-4}
    ),
    "Alg. 1, paper's G, without E_M and K1 = K2 = 0 (Table 3's last row)": (
        algorithm_1({**PAPER_G, **NO_E_M})
    ),
    "Alg. 1, cpu record (G with w_stream and w_every_level)": algorithm_1({}),
    "Alg. 1, cpu record with w_stream alone": algorithm_1(
        {"model.w_every_level": False}
    ),
    "GAN loop: AVLAE's paper G against AVLAE's D_V": gan_loop(
        "avlae", "avlae", PAPER_G
    ),
    "GAN loop: AVLAE's paper G against MoCoGAN's D_V": gan_loop(
        "avlae", "mocogan", PAPER_G
    ),
    "GAN loop: AVLAE's cpu G against AVLAE's D_V": gan_loop("avlae", "avlae"),
    "GAN loop: G3AN's cpu G against AVLAE's D_V": gan_loop("g3an", "avlae"),
    "GAN loop: the same without G3AN's temporal stream G_T": gan_loop(
        "g3an", "avlae", {"model.temporal_stream": False}
    ),
    "GAN loop: the same without G3AN's spatial stream G_S": gan_loop(
        "g3an", "avlae", {"model.spatial_stream": False}
    ),
    "GAN loop: the same without G_S and without G_T's BatchNorm": gan_loop(
        "g3an", "avlae", {"model.spatial_stream": False}, without_stream_norm
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=AT[-1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    rows = []
    for name, run in ROWS.items():
        per_seed = {seed: run(seed, args.steps) for seed in args.seeds}
        rows.append({"config": name, "diversity_by_seed": per_seed})
        print(json.dumps(rows[-1]), flush=True)
    machine = (
        f"cpu, {platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, load average {load_before:.1f} "
        f"before / {os.getloadavg()[0]:.1f} after"
    )
    out = args.out or Path(__file__).parents[1] / "book/results/avlae_collapse_cpu.json"
    steps = [s for s in AT if s <= args.steps]
    payload = {"machine": machine, "codes": CODES, "steps": steps, "rows": rows}
    out.write_text(json.dumps(payload | provenance(), indent=2) + "\n")


if __name__ == "__main__":
    main()
