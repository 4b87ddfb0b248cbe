"""Shapes throughput in videos/s, in one process, numpy per item against torch per
batch.

Run ``python benchmarks/shapes_render.py``. Over distinct items at 32x32x16 and
64x64x16 it times the numpy renderer one item at a time, ``ShapesVideos.__getitem__``
(sampling, rendering and tensor conversion) and ``render`` alone, and the torch
renderer a batch at a time, ``ShapesVideos.batch`` (sampling included) and
``render_batch`` alone, on the CPU and on CUDA where there is one. torch uses one
thread, as numpy does. It prints the best and the median of the repeats, and the load
average before and after.
"""

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from vidlib.data.shapes import ShapesConfig, ShapesVideos, render, render_batch


def videos_per_second(
    fetch: Callable[[range], object],
    count: int,
    batch: int,
    repeats: int,
    device: torch.device,
) -> list[float]:
    """Rate of ``fetch(indices)`` over ``count`` items, ``batch`` at a time, once per
    repeat, after one warm-up batch (CUDA's start, first kernels)."""

    def run(indices: range) -> None:
        fetch(indices)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the batch is done, not just queued

    run(range(min(batch, count)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for first in range(0, count, batch):
            run(range(first, min(first + batch, count)))
        rates.append(count / (time.perf_counter() - start))
    return rates


def measure(resolution: int, frames: int, count: int, batch: int, repeats: int) -> None:
    """Print the throughput of each way to get videos at one clip size."""
    data = ShapesVideos(ShapesConfig(resolution=resolution, frames=frames), size=count)
    factors = [data.factors(i) for i in range(count)]
    cpu = torch.device("cpu")
    timings = {
        "numpy __getitem__": (cpu, lambda indices: [data[i] for i in indices]),
        "numpy render": (
            cpu,
            lambda indices: [render(factors[i], resolution, frames) for i in indices],
        ),
    }
    devices = [cpu] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        timings[f"torch {device.type} batch"] = (
            device,
            lambda indices, device=device: data.batch(indices, device),
        )
        timings[f"torch {device.type} render_batch"] = (
            device,
            lambda indices, device=device: render_batch(
                [factors[i] for i in indices], resolution, frames, device
            ),
        )
    for name, (device, fetch) in timings.items():
        step = 1 if name.startswith("numpy") else batch
        rates = videos_per_second(fetch, count, step, repeats, device)
        print(
            f"{resolution}x{resolution}x{frames} {name:>24}: best {max(rates):7.0f}, "
            f"median {statistics.median(rates):7.0f} videos/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=512, help="videos per repeat")
    parser.add_argument("--batch", type=int, default=64, help="videos per torch call")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA"
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, {gpu}, python "
        f"{platform.python_version()}, torch {torch.__version__}, batch {args.batch}"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for resolution, frames in ((32, 16), (64, 16)):
        measure(resolution, frames, args.count, args.batch, args.repeats)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
