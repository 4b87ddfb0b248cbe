"""Real video datasets from local paths, with the papers' preprocessing.

``open_dataset(name, root, frames=, resolution=)`` is the one entry point. Every
loader checks the layout of ``root`` up front (a clear error showing the expected
layout), lists its videos, and returns a :class:`VideoDataset` whose items are
``{"video": (3, T, H, W) in [-1, 1], "index": int, **labels}``. The layouts and
their checks are in :mod:`vidlib.data.layouts`.

Item ``index`` is a pure function of ``(seed, index)``: the random clip start and
temporal step come from ``np.random.default_rng([seed, index])``; horizontal flips
(Weizmann) double the dataset (the second half is mirrored) as in G3AN/AVLAE, and
``clips_per_video`` > 1 repeats the list so that one epoch sees several clips of each
video. A resumed training run therefore sees exactly the same data. Video files are
decoded only up to the last frame of the clip, trusting the container's frame count
(the whole file is decoded when the count is missing or too large); the cache and
on-the-fly decoding give identical items whenever that count is right.

Bad files inside a dataset (unreadable, truncated, shorter than the clip, frames of
mixed sizes) are skipped with a warning naming each file; the item falls back to the
next good video (deterministically). :meth:`VideoDataset.check` decodes everything
and reports the count; ``on_bad="error"`` raises instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vidlib.data import cache as clip_cache
from vidlib.data.layouts import (
    DatasetLayoutError,
    Source,
    chair_cad_sources,
    folder_sources,
    golf_sources,
    load_source,
    mug_sources,
    sprites_sources,
    ucf101_sources,
    uva_nemo_sources,
    weizmann_sources,
)
from vidlib.data.transforms import Preprocess, hflip, to_tensor
from vidlib.data.video import (
    ClipSampler,
    VideoReadError,
    frame_files,
    read_frames,
    read_video,
)


class VideoDataset(torch.utils.data.Dataset):
    """Clips of a list of :class:`Source` videos with a paper's preprocessing.

    Length ``len(sources) * (2 if flip else 1) * clips_per_video``. With
    ``cache_dir``, every video is decoded and preprocessed once into a
    :mod:`vidlib.data.cache` memmap (built on construction, with a progress bar).
    """

    def __init__(
        self,
        name: str,
        root: Path,
        sources: Sequence[Source],
        *,
        sampler: ClipSampler,
        preprocess: Preprocess,
        split: str = "train",
        seed: int = 0,
        flip: bool = False,
        clips_per_video: int = 1,
        max_frames: int | None = None,
        on_bad: str = "skip",
        cache_dir: str | Path | None = None,
        progress: bool = True,
        extra_config: dict | None = None,
    ) -> None:
        if not sources:
            raise DatasetLayoutError(f"{name}: no videos found under {root}")
        if on_bad not in ("skip", "error"):
            raise ValueError(f"on_bad must be 'skip' or 'error', got {on_bad!r}")
        if clips_per_video < 1 or seed < 0:
            raise ValueError(
                f"clips_per_video must be >= 1 and seed >= 0, got {clips_per_video}, "
                f"{seed}"
            )
        self.name, self.root, self.sources = name, root, list(sources)
        self.sampler, self.preprocess, self.max_frames = sampler, preprocess, max_frames
        self.seed, self.split, self.flip = seed, split, flip
        self.clips_per_video, self.on_bad = clips_per_video, on_bad
        self.skipped: dict[str, str] = {}
        self.config: dict = {
            "dataset": name,
            "root": str(root),
            "split": split,
            "seed": seed,
            "videos": len(self.sources),
            "sampler": sampler.config(),
            "preprocess": preprocess.config(),
            "flip": flip,
            "clips_per_video": clips_per_video,
            "max_frames": max_frames,
            **(extra_config or {}),
        }
        self.cache = None
        if cache_dir is not None:
            self.cache = clip_cache.open_or_build(
                cache_dir,
                name,
                preprocess.size,
                self._cache_description(),
                len(self.sources),
                lambda i: self.preprocess(load_source(self.sources[i], max_frames)),
                [s.path for s in self.sources],
                root,
                progress,
            )
            self.skipped |= {
                self.sources[i].path: why for i, why in self.cache.bad.items()
            }
            shortest = sampler.span(sampler.steps[0])
            for i, length in enumerate(self.cache.lengths):
                if i not in self.cache.bad and length < shortest:
                    self._skip(
                        self.sources[i].path,
                        f"{self.sources[i].path}: {length} frames, shorter than a "
                        f"clip ({shortest} frames)",
                    )

    def _cache_description(self) -> dict:
        return {
            "dataset": self.name,
            "sources": [
                clip_cache.file_stamp(s.path) + list(s.files) + [s.row]
                for s in self.sources
            ],
            "preprocess": self.preprocess.config(),
            "max_frames": self.max_frames,
        }

    @property
    def variants(self) -> int:
        """Distinct (video, flip) pairs."""
        return len(self.sources) * (2 if self.flip else 1)

    def __len__(self) -> int:
        return self.variants * self.clips_per_video

    def labels(self, index: int) -> dict[str, int]:
        """Labels of item ``index`` (without decoding); ``flipped`` where flipping."""
        variant = index % self.variants
        labels = dict(self.sources[variant % len(self.sources)].labels)
        return labels | ({"flipped": variant // len(self.sources)} if self.flip else {})

    def _clip(self, source: int, key: list[int]) -> np.ndarray:
        """A preprocessed clip ``(T, H, W, 3)`` uint8 of source ``source``, its frames
        drawn with ``np.random.default_rng(key)``."""
        src = self.sources[source]

        def choose(length: int) -> np.ndarray:
            try:
                return self.sampler(length, np.random.default_rng(key))
            except ValueError as error:
                raise VideoReadError(f"{src.path}: {error}") from error

        if self.cache is not None:
            video = self.cache[source]
            if video is None:
                raise VideoReadError(self.cache.bad[source])
            return np.asarray(video[choose(len(video))])
        if src.kind == "frames":  # read only the chosen frames
            files = [Path(f) for f in src.files] or frame_files(src.path)
            files = files[: self.max_frames]
            return self.preprocess(read_frames([files[i] for i in choose(len(files))]))
        if src.kind == "video":  # decode up to the last chosen frame only
            return self.preprocess(read_video(src.path, self.max_frames, choose))
        video = load_source(src, self.max_frames)
        return self.preprocess(video[choose(len(video))])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        variant = index % self.variants
        for attempt in range(len(self.sources)):
            source = (variant + attempt) % len(self.sources)
            try:
                clip = self._clip(source, [self.seed, index])
            except VideoReadError as error:
                self._skip(self.sources[source].path, str(error))
                continue
            flipped = variant >= len(self.sources)
            clip = hflip(clip) if flipped else clip
            labels = dict(self.sources[source].labels)
            labels |= {"flipped": int(flipped)} if self.flip else {}
            return {"video": to_tensor(clip), "index": index, **labels}
        raise VideoReadError(f"{self.name}: every video under {self.root} failed")

    def _skip(self, path: str, why: str) -> None:
        if self.on_bad == "error":
            raise VideoReadError(why)
        if path not in self.skipped:
            self.skipped[path] = why
            warnings.warn(
                f"{self.name}: skipped {path}: {why} "
                f"({len(self.skipped)} skipped so far; the next video is used)",
                stacklevel=3,
            )

    def check(self, progress: bool = True) -> dict[str, str]:
        """Decode every video once; warn about each bad file and the count.
        Returns ``{path: reason}`` of the bad files."""
        for i, src in enumerate(tqdm(self.sources, desc="check", disable=not progress)):
            try:
                self._clip(i, [self.seed, i])
            except VideoReadError as error:
                self._skip(src.path, str(error))
        if self.skipped:
            warnings.warn(
                f"{self.name}: {len(self.skipped)} of {len(self.sources)} videos "
                "skipped (named above)",
                stacklevel=2,
            )
        return dict(self.skipped)


def _random_subset(sources: list[Source], count: int | None, seed: int) -> list[Source]:
    """``count`` sources chosen at random with ``seed`` (NAVS: 820 chairs, 500
    golf videos), in their original order; all when ``count`` is None."""
    if count is None:
        return sources
    if not 0 < count <= len(sources):
        raise ValueError(f"asked for {count} videos, found {len(sources)}")
    keep = np.random.default_rng(seed).choice(len(sources), count, replace=False)
    return [sources[i] for i in sorted(keep)]


@dataclass(frozen=True)
class Recipe:
    """How a paper preprocessed a dataset (the defaults of :func:`open_dataset`)."""

    sources: Callable[..., list[Source]]
    crop: str = "center"
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    steps: tuple[int, ...] = (1, 2, 3, 4)
    random_start: bool = True
    flip: bool = False
    max_frames: int | None = None
    subset: str | None = None  # name of the random-subset option (NAVS)
    options: tuple[str, ...] = ()  # extra keyword arguments of ``sources``


RECIPES: dict[str, Recipe] = {
    # G3AN/AVLAE: flip augmentation; NAVS: centre crop, resize to 64.
    "weizmann": Recipe(weizmann_sources, flip=True, options=("heldout_cells",)),
    # G3AN: landmark face crop (not reproduced: give face-cropped frames), 64x64.
    "mug": Recipe(mug_sources),
    "uva-nemo": Recipe(uva_nemo_sources),
    # TGAN/G3AN: scale to 85x64, centre crop 64x64 (AVLAE: 170x128 -> 128).
    "ucf101": Recipe(ucf101_sources, crop="short_side", options=("fold",)),
    # NAVS class_gen.py: first 16 renders, [100:500, 100:500] of 600x600, 64x64.
    "chair-cad": Recipe(
        chair_cad_sources,
        crop="box",
        box=(1 / 6, 1 / 6, 5 / 6, 5 / 6),
        steps=(1,),
        random_start=False,
        max_frames=16,
        subset="chairs",
    ),
    # VGAN/TGAN: square 128x128 frames resized to 64; TGAN: random 16-frame window.
    "golf": Recipe(golf_sources, crop="none", steps=(1,), subset="videos"),
    # DSA: 8 frames of 64x64, used as is.
    "sprites": Recipe(sprites_sources, crop="none", steps=(1,)),
    "folder": Recipe(folder_sources),
}
COMMON_OPTIONS = (
    "steps", "random_start", "crop", "flip", "clips_per_video", "on_bad",
    "cache_dir", "progress",
)  # fmt: skip


def open_dataset(
    name: str,
    root: str | Path,
    *,
    frames: int,
    resolution: int,
    split: str = "train",
    seed: int = 0,
    **options: object,
) -> VideoDataset:
    """The dataset ``name`` (one of ``RECIPES``) at ``root`` with its paper's
    preprocessing, as ``frames``-long clips of ``resolution`` x ``resolution``.

    Options: ``steps`` (temporal steps to draw from), ``random_start``, ``crop``
    (see :class:`Preprocess`), ``flip``, ``clips_per_video``, ``on_bad`` ("skip" or
    "error"), ``cache_dir`` (decoded-clip cache, outside ``root``), ``progress``;
    per dataset: ``heldout_cells`` (weizmann), ``fold`` (ucf101), ``chairs``
    (chair-cad: a random subset, NAVS uses 820), ``videos`` (golf: NAVS uses 500).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {tuple(RECIPES)}")
    recipe = RECIPES[name]
    allowed = (
        COMMON_OPTIONS + recipe.options + ((recipe.subset,) if recipe.subset else ())
    )
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown options {unknown}; allowed: {allowed}")
    if recipe.max_frames is not None and frames > recipe.max_frames:
        raise ValueError(
            f"{name}: frames must be <= {recipe.max_frames} (the paper uses the first "
            f"{recipe.max_frames} frames of each video), got {frames}"
        )
    try:
        root = Path(root).expanduser().resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        raise DatasetLayoutError(
            f"{name}: root {root} cannot be resolved ({error}); expected a folder"
        ) from None
    specific = {key: options[key] for key in recipe.options if key in options}
    sources = recipe.sources(root, split, **specific)
    subset = options.get(recipe.subset) if recipe.subset else None
    sources = _random_subset(sources, subset, seed)
    crop = options.get("crop", "none" if split.startswith("exchange") else recipe.crop)
    preprocess = Preprocess((resolution, resolution), crop, recipe.box)
    sampler = ClipSampler(
        frames,
        options.get("steps", recipe.steps),
        options.get("random_start", recipe.random_start),
    )
    flip = options.get("flip", recipe.flip and split == "train")
    extra = {key: _primitive(value) for key, value in specific.items()}
    if subset is not None:
        extra[recipe.subset] = subset
    return VideoDataset(
        name,
        root,
        sources,
        sampler=sampler,
        preprocess=preprocess,
        split=split,
        seed=seed,
        flip=bool(flip),
        clips_per_video=int(options.get("clips_per_video", 1)),
        max_frames=recipe.max_frames,
        on_bad=str(options.get("on_bad", "skip")),
        cache_dir=options.get("cache_dir"),
        progress=bool(options.get("progress", True)),
        extra_config=extra,
    )


def _primitive(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_primitive(v) for v in value]
    return value
