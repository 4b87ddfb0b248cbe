"""G3AN's training step against the official code's, on the same machine at the paper's
size.

Run ``python benchmarks/g3an_official.py --official PATH``, PATH a local checkout of
the official code (github.com/wyhsirius/g3an-project; vidlib never downloads it). Four
steps on the same batch of random 64×64×16 clips are timed in turn (``--repeats``
rounds of the four below):

* ``official``: its ``Generator`` (``1p2d``, with F-SA, as the paper),
  ``VideoDiscriminator`` and ``ImageDiscriminator`` with its optimisers, and one
  iteration of its ``trainer.train`` (both discriminators on BCE, then G);
* ``vidlib``: ``G3AN.train_step`` of the paper-size model (``G3ANConfig`` defaults,
  which follow the official code's sizes and spectral norms, and the paper's 3-D D_V);
* ``vidlib channels-last``: the same with every conv channels-last
  (``train.channels_last``, :func:`vidlib.train.to_channels_last`);
* ``vidlib channels-last, (2+1)D D_V``: that with the official code's "improved"
  (2+1)D video discriminator instead of the paper's 3-D one, the architecture the
  official step trains.

Writes the medians, every value and the load to
``book/results/g3an_official_cpu.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from gpu import RESULTS, git_sha, machine, model_and_batch  # benchmarks/ on sys.path
from timing import built, random_batch, seconds, train_interval
from torch import nn

from vidlib.train import channels_last_clips, to_channels_last


def official_step(root: Path, video: torch.Tensor) -> Callable[[], None]:
    """One iteration of the official ``trainer.train`` on ``video``, its nets built as
    its ``train.py`` builds them with the paper's F-SA."""
    if not (root / "model" / "networks.py").is_file():
        raise SystemExit(
            f"--official {root}: no model/networks.py there; expected a "
            "checkout of github.com/wyhsirius/g3an-project"
        )
    sys.path.insert(0, str(root))
    networks = importlib.import_module("model.networks")
    torch.manual_seed(0)
    G = networks.Generator(128, 10, 64, "1p2d", use_attention=True)
    VD, ID = networks.VideoDiscriminator(64), networks.ImageDiscriminator(64)
    adam = [torch.optim.Adam(n.parameters(), 2e-4, (0.5, 0.999)) for n in (G, VD, ID)]
    opt_G, opt_VD, opt_ID = adam
    bce = nn.BCEWithLogitsLoss()
    b, t = video.shape[0], video.shape[2]

    def step() -> None:
        real_img = video[:, :, random.randint(0, t - 1)]
        opt_VD.zero_grad()
        opt_ID.zero_grad()
        vd_real, id_real = VD(video), ID(real_img)
        fake = G(torch.randn(b, 128, 1, 1, 1), torch.randn(b, 10, 1, 1, 1))
        fake_img = fake[:, :, random.randint(0, t - 1)]
        vd_fake, id_fake = VD(fake.detach()), ID(fake_img.detach())
        ones, zeros = torch.ones_like(vd_real), torch.zeros_like(vd_fake)
        (bce(vd_real, ones) + bce(vd_fake, zeros)).backward()
        opt_VD.step()
        (
            bce(id_real, torch.ones_like(id_real))
            + bce(id_fake, torch.zeros_like(id_fake))
        ).backward()
        opt_ID.step()
        opt_G.zero_grad()
        vg, ig = VD(fake), ID(fake_img)
        (bce(vg, torch.ones_like(vg)) + bce(ig, torch.ones_like(ig))).backward()
        opt_G.step()

    return step


def vidlib_step(
    video: torch.Tensor, channels_last: bool, d_v: str = "3d"
) -> Callable[[], None]:
    """One ``G3AN.train_step`` of the paper-size model on ``video``, with the video
    discriminator ``d_v``."""
    model = model_and_batch("g3an", "paper")[0] | {"video_discriminator": d_v}
    method = built(model, torch.device("cpu"))
    batch = {"video": video}
    if channels_last and to_channels_last(method):
        batch = channels_last_clips(batch)
    return train_interval(method, batch)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--out", type=Path, default=RESULTS.parent / "g3an_official_cpu.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = built(model_and_batch("g3an", "paper")[0], torch.device("cpu")).cfg
    video = random_batch(cfg, args.batch, torch.device("cpu"))["video"]
    steps = {
        "official": official_step(args.official.resolve(), video),
        "vidlib": vidlib_step(video, channels_last=False),
        "vidlib channels-last": vidlib_step(video, channels_last=True),
        "vidlib channels-last, (2+1)D D_V": vidlib_step(video, True, "2+1d"),
    }
    load_before = os.getloadavg()[0]
    for step in steps.values():
        step()  # warm-up
    values: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            values[name].append(round(seconds(step, 1), 3))
    medians = {name: statistics.median(v) for name, v in values.items()}
    result = {
        "machine": machine(torch.device("cpu")),
        "git_sha": git_sha(),
        "batch": args.batch,
        "threads": args.threads,
        "repeats": args.repeats,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "step_s": medians,
        "values": values,
        "speedup_over_official": {
            name: round(medians["official"] / m, 3) for name, m in medians.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
