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
from vidlib.judging import JudgeTraining, default_steps, load_judges
from vidlib.metrics.judges import Judges, judge_nets


def untrained(config: ShapesConfig) -> Judges:
    """Judges with freshly initialised weights (same architecture and cost)."""
    nets = judge_nets(config, JudgeTraining(steps=default_steps(config)).width)
    return Judges(
        config, nets["action"], nets["appearance"], accuracy={}, key="untrained"
    )


def seconds(judges: Judges, batch: torch.Tensor, clips: int) -> tuple[float, float]:
    """Wall and CPU time of ``judges.judge`` over ``clips`` clips, ``batch`` at a
    time (CPU time summed over threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(clips // len(batch)):
        judges.judge(batch)
    return time.perf_counter() - wall, time.process_time() - cpu


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
        runs = [seconds(judges, batch, args.clips) for _ in range(args.repeats)]
        wall = [w for w, _ in runs]
        print(
            f"{args.clips} clips 64x64x16, {threads} thread(s): wall best "
            f"{min(wall):.1f} s, median {statistics.median(wall):.1f} s "
            f"({args.clips / min(wall):.0f} clips/s at best); CPU time "
            f"{min(c for _, c in runs):.1f} s"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
