"""Shapes v1 throughput in videos/s, in one process.

Run ``python benchmarks/shapes_render.py``. Times ``ShapesVideos.__getitem__``
(sampling, rendering and tensor conversion) and ``render`` alone over distinct items,
and prints the best and the median of the repeats.
"""

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from vidlib.data.shapes import ShapesConfig, ShapesVideos, render


def videos_per_second(
    fetch: Callable[[int], object], count: int, repeats: int
) -> list[float]:
    """Rate of ``fetch(i)`` over ``i < count``, once per repeat."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            fetch(i)
        rates.append(count / (time.perf_counter() - start))
    return rates


def measure(resolution: int, frames: int, count: int, repeats: int) -> None:
    """Print the throughput of items and of bare renders at one clip size."""
    data = ShapesVideos(ShapesConfig(resolution=resolution, frames=frames), size=count)
    factors = [data.factors(i) for i in range(count)]
    timings = {
        "__getitem__": data.__getitem__,
        "render": lambda i: render(factors[i], resolution, frames),
    }
    for name, fetch in timings.items():
        rates = videos_per_second(fetch, count, repeats)
        print(
            f"{resolution}x{resolution}x{frames} {name:>12}: best {max(rates):6.0f}, "
            f"median {statistics.median(rates):6.0f} videos/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="videos per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.machine()}, python {platform.python_version()}")
    for resolution, frames in ((32, 16), (64, 16)):
        measure(resolution, frames, args.count, args.repeats)


if __name__ == "__main__":
    main()
