"""Time to evaluate clips with the judges: features and predictions, one pass.

Run ``python benchmarks/judges_eval.py`` (``--help`` for sizes). Builds the judges of
the full Shapes config (64×64×16, every shape, colour, background and action; the
weights do not change the time, so untrained ones are used unless ``--cache-dir``
holds trained ones), renders ``--batch`` test clips once and times
``Judges.judge`` (features and every prediction) over ``--clips`` clips, rendering
excluded, once per thread count. Prints the best and the median of ``--repeats``.
"""

import argparse
import os
import platform
import statistics
import time

import torch

from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.metrics.judges import (
    ActionJudge,
    Judges,
    JudgeTraining,
    appearance_judges,
    default_steps,
    load_judges,
)


def untrained(config: ShapesConfig) -> Judges:
    """Judges with freshly initialised weights (same architecture and cost)."""
    width = JudgeTraining(steps=default_steps(config)).width
    action = ActionJudge(len(config.actions), config.frames, width)
    return Judges(
        config, action, appearance_judges(config, width), accuracy={}, key="untrained"
    )


def seconds(judges: Judges, batch: torch.Tensor, clips: int) -> float:
    """Wall time of ``judges.judge`` over ``clips`` clips, ``batch`` at a time."""
    start = time.perf_counter()
    for _ in range(clips // len(batch)):
        judges.judge(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256, help="clips rendered once")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cache-dir", help="load trained judges from this cache")
    args = parser.parse_args()
    config = ShapesConfig()
    if args.cache_dir:
        judges = load_judges(config, cache_dir=args.cache_dir)
    else:
        judges = untrained(config)
    data = ShapesVideos(config, size=args.batch, split="test")
    batch = torch.stack([data[i]["video"] for i in range(args.batch)])
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    for threads in args.threads:
        judges.threads = threads
        times = [seconds(judges, batch, args.clips) for _ in range(args.repeats)]
        print(
            f"{args.clips} clips 64x64x16, {threads} thread(s): best {min(times):.1f} "
            f"s, median {statistics.median(times):.1f} s "
            f"({args.clips / min(times):.0f} clips/s at best)"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
