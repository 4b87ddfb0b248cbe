"""Clips/s at 64x64x16 from video files decoded with PyAV vs the decoded-clip cache.

Run ``python benchmarks/decode_throughput.py --out book/results/decode.json``.
It writes UCF101-sized videos (320x240, 25 fps, 3 s; textured, panning content) as
H.264 ``.mp4`` and MPEG-4 ``.avi`` into a temporary folder, opens them with
``open_dataset("folder", ...)`` (short-side resize + centre crop to 64x64, random
16-frame clips), and times ``__getitem__`` in one process with one torch thread:
on the fly (PyAV decodes up to the clip's last frame) and through the cache (its
one-time build is timed too). Prints and writes JSON with the machine and its load.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from vidlib.data.datasets import open_dataset
from vidlib.data.fixtures import fixture_video
from vidlib.data.video import write_video


def textured_video(frames: int, height: int, width: int, number: int) -> np.ndarray:
    """Fixture ramps and square plus a noise texture panning one pixel per frame."""
    rng = np.random.default_rng(number)
    texture = rng.integers(-24, 25, size=(height, width + frames, 3))
    base = fixture_video(frames, height, width, number).astype(int)
    panned = np.stack([texture[:, t : t + width] for t in range(frames)])
    return np.clip(base + panned, 0, 255).astype(np.uint8)


def clips_per_second(data: torch.utils.data.Dataset, repeats: int) -> list[float]:
    """Rate of ``data[i]`` over all items, once per repeat."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(data)):
            data[i]
        rates.append(len(data) / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=24, help="videos per format")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".mp4", ".avi"):
            root = Path(tmp) / suffix[1:]
            (root / "all").mkdir(parents=True)
            for i in range(args.videos):
                write_video(
                    root / "all" / f"{i}{suffix}", textured_video(75, 240, 320, i)
                )
            options = {"frames": 16, "resolution": 64, "crop": "short_side"}
            plain = open_dataset("folder", root, **options)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a skipped file would bias the numbers
                cached = open_dataset(
                    "folder",
                    root,
                    cache_dir=Path(tmp) / "cache",
                    progress=False,
                    **options,
                )
            build = time.perf_counter() - start
            pyav, cache = (
                clips_per_second(plain, args.repeats),
                clips_per_second(cached, args.repeats),
            )
            results[suffix[1:]] = {
                "pyav_clips_per_s": {
                    "median": statistics.median(pyav),
                    "best": max(pyav),
                },
                "cache_clips_per_s": {
                    "median": statistics.median(cache),
                    "best": max(cache),
                },
                "cache_build_s": build,
                "speedup_median": statistics.median(cache) / statistics.median(pyav),
            }
            print(
                f"{suffix}: PyAV {statistics.median(pyav):7.1f} clips/s, cache "
                f"{statistics.median(cache):7.1f} clips/s (built in {build:.1f} s)"
            )
    report = {
        "benchmark": "benchmarks/decode_throughput.py",
        "clip": "64x64x16 from 320x240x75 @25fps, short-side resize + centre crop",
        "videos_per_format": args.videos,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "torch_threads": 1,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "results": results,
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["load_average_1min"]))


if __name__ == "__main__":
    main()
