"""Wall time of the judge metrics on N generated + N real Shapes clips, by threads.

Run ``python benchmarks/metrics_eval.py [--clips 2048] [--threads 2 1]``. Evaluates
``fd_judge``, ``kd_judge``, ``is_judge_action``, ``hyx_judge_action`` and
``hy_judge_action`` (judge forward passes included, clip rendering excluded) with the
judges of the full 64×64×16 Shapes config (trained first if not cached), and prints
the machine, the thread count and the load average with each time.
"""

import argparse
import os
import platform
import time

import torch

from vidlib.data.shapes import (
    ACTIONS,
    BACKGROUNDS,
    COLORS,
    SHAPES,
    ShapesConfig,
    ShapesVideos,
)
from vidlib.judging import load_judges
from vidlib.metrics.registry import evaluate

JUDGE_METRICS = [
    "fd_judge",
    "kd_judge",
    "is_judge_action",
    "hyx_judge_action",
    "hy_judge_action",
]


def clips(config: ShapesConfig, split: str, n: int, seed: int) -> torch.Tensor:
    data = ShapesVideos(config, size=n, seed=seed, split=split)
    return torch.stack([data[i]["video"] for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2048)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    args = parser.parse_args()
    config = ShapesConfig(
        resolution=args.resolution,
        frames=args.frames,
        shapes=SHAPES,
        colors=tuple(COLORS),
        backgrounds=BACKGROUNDS,
        actions=ACTIONS,
    )
    judges = load_judges(config, progress=False)
    fake = clips(config, "test", args.clips, seed=2)
    real = clips(config, "train", args.clips, seed=3)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, judges {judges.protocol}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        evaluate(JUDGE_METRICS, fake, real=real, judges=judges)
        seconds = time.perf_counter() - start
        print(
            f"{args.clips} + {args.clips} clips {args.resolution}x{args.resolution}x"
            f"{args.frames}, {threads} threads: {seconds:.1f} s "
            f"(load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
