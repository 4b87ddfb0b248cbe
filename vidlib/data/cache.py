"""Decoded-clip cache: every video of a dataset decoded and spatially preprocessed
once, stored as one uint8 array ``(sum of T, H, W, 3)`` read through ``np.memmap``.

The cache folder is ``<cache_dir>/<dataset>-<H>x<W>-<key>/`` where ``key`` hashes the
dataset's file list (paths, sizes, modification times) and preprocessing, so a
changed file or transform builds a new cache. It is built in a temporary folder and
renamed into place (atomic), and it is never written inside the dataset root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vidlib.data.video import VideoReadError

FORMAT_VERSION = 1


def cache_key(description: dict) -> str:
    """First 12 hex digits of the SHA-256 of ``description`` as sorted JSON."""
    text = json.dumps(description, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def file_stamp(path: str) -> list:
    """``[path, size, mtime_ns]`` of a file or of every file in a folder."""
    p = Path(path)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    stats = [f.stat() for f in files]
    return [path, sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)]


class DecodedCache:
    """Read side: ``cache[i]`` is video ``i`` as ``(T, H, W, 3)`` uint8 (a memmap view),
    or ``None`` when it failed to decode at build time (``cache.bad[i]`` says why)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        meta = json.loads((folder / "index.json").read_text())
        self.offsets: list[int] = meta["offsets"]
        self.lengths: list[int] = meta["lengths"]
        self.bad: dict[int, str] = {int(k): v for k, v in meta["bad"].items()}
        self.shape = tuple(meta["shape"])
        self._frames: np.ndarray | None = None  # opened lazily, once per process

    def __getitem__(self, i: int) -> np.ndarray | None:
        if i in self.bad:
            return None
        if self._frames is None:
            self._frames = np.memmap(
                self.folder / "frames.u8", np.uint8, "r", shape=self.shape
            )
        return self._frames[self.offsets[i] : self.offsets[i] + self.lengths[i]]

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_frames": None}


def open_or_build(
    cache_dir: str | Path,
    name: str,
    size: tuple[int, int],
    description: dict,
    count: int,
    load: Callable[[int], np.ndarray],
    sources: Sequence[str],
    forbidden_root: Path,
    progress: bool = True,
) -> DecodedCache:
    """Open the cache for ``description`` or build it by calling ``load(i)`` for
    ``i < count`` (a ``(T, H, W, 3)`` uint8 video); files that raise
    :class:`VideoReadError` are recorded, warned about one by one and counted."""
    cache_dir = Path(cache_dir).resolve()
    root = forbidden_root.resolve()
    if cache_dir == root or root in cache_dir.parents:
        raise ValueError(
            f"cache_dir {cache_dir} is inside the dataset root {root}; choose a folder "
            "outside it (the dataset root is never written)"
        )
    description = description | {"format": FORMAT_VERSION}
    folder = cache_dir / f"{name}-{size[0]}x{size[1]}-{cache_key(description)}"
    if (folder / "index.json").exists():
        return DecodedCache(folder)
    cache_dir.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        offsets, lengths, bad, total = [], [], {}, 0
        with (temp / "frames.u8").open("wb") as out:
            for i in tqdm(range(count), desc=f"cache {name}", disable=not progress):
                offsets.append(total)
                try:
                    video = load(i)
                except VideoReadError as error:
                    bad[i] = str(error)
                    warnings.warn(f"cache: skipped {sources[i]}: {error}", stacklevel=2)
                    lengths.append(0)
                    continue
                out.write(np.ascontiguousarray(video).tobytes())
                lengths.append(len(video))
                total += len(video)
        if bad:
            warnings.warn(
                f"cache: {len(bad)} of {count} files skipped (named above)",
                stacklevel=2,
            )
        meta = {
            "description": description,
            "offsets": offsets,
            "lengths": lengths,
            "bad": bad,
            "shape": [total, *size, 3],
        }
        (temp / "index.json").write_text(json.dumps(meta))
        os.replace(temp, folder)
    finally:
        if temp.exists():
            shutil.rmtree(temp)
    return DecodedCache(folder)
