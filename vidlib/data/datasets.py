"""Real video datasets from local paths, with the papers' preprocessing.

``open_dataset(name, root, frames=, resolution=)`` is the one entry point. Every
loader checks the layout of ``root`` up front (a clear error showing the expected
layout), lists its videos, and returns a :class:`VideoDataset` whose items are
``{"video": (3, T, H, W) in [-1, 1], "index": int, **labels}``.

Item ``index`` is a pure function of ``(seed, index)``: the random clip start and
temporal step come from ``np.random.default_rng([seed, index])``; horizontal flips
(Weizmann) double the dataset (the second half is mirrored) as in G3AN/AVLAE, and
``clips_per_video`` > 1 repeats the list so that one epoch sees several clips of each
video. A resumed training run therefore sees exactly the same data.

Bad files inside a dataset (unreadable, truncated, shorter than the clip, frames of
mixed sizes) are skipped with a warning naming each file; the item falls back to the
next good video (deterministically). :meth:`VideoDataset.check` decodes everything
and reports the count; ``on_bad="error"`` raises instead.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vidlib.data import cache as clip_cache
from vidlib.data.transforms import Preprocess, hflip, to_tensor
from vidlib.data.video import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    ClipSampler,
    VideoReadError,
    frame_files,
    read_frames,
    read_strip,
    read_video,
)


class DatasetLayoutError(ValueError):
    """The dataset root does not have the expected layout."""


@dataclass(frozen=True)
class Source:
    """One video on disk: a video file, a frame folder (or an explicit list of frame
    files), a vertical image strip, or row ``row`` of a NumPy array file."""

    kind: str  # "video" | "frames" | "strip" | "array"
    path: str
    labels: dict[str, int] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    row: int = -1


def load_source(source: Source, max_frames: int | None = None) -> np.ndarray:
    """All frames of ``source`` (at most ``max_frames``) as ``(T, H, W, 3)`` uint8."""
    if source.kind == "video":
        return read_video(source.path, max_frames)
    if source.kind == "frames":
        files = [Path(f) for f in source.files] or source.path
        return read_frames(files, max_frames)
    if source.kind == "strip":
        return read_strip(source.path, "vertical", max_frames)
    return _array_row(source.path, source.row)[:max_frames]


def _array_row(path: str, row: int) -> np.ndarray:
    """Row ``row`` of a ``(N, T, H, W, 3)`` array: uint8, or float in ``[0, 1]``
    (Sprites stores ``uint8 / 256``; multiplied back by 256)."""
    video = np.load(path, mmap_mode="r")[row]
    if video.dtype == np.uint8:
        return np.asarray(video)
    return np.clip(np.rint(np.asarray(video) * 256), 0, 255).astype(np.uint8)


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

    def _clip(self, source: int, rng: np.random.Generator) -> np.ndarray:
        """A preprocessed clip ``(T, H, W, 3)`` uint8 of source ``source``."""
        if self.cache is not None:
            video = self.cache[source]
            if video is None:
                raise VideoReadError(self.cache.bad[source])
            try:
                return np.asarray(video[self.sampler(len(video), rng)])
            except ValueError as error:
                raise VideoReadError(f"{self.sources[source].path}: {error}") from error
        src = self.sources[source]
        if src.kind == "frames":  # read only the sampled frames
            files = [Path(f) for f in src.files] or frame_files(src.path)
            files = files[: self.max_frames]
            try:
                chosen = self.sampler(len(files), rng)
            except ValueError as error:
                raise VideoReadError(f"{src.path}: {error}") from error
            return self.preprocess(read_frames([files[i] for i in chosen]))
        video = load_source(src, self.max_frames)
        try:
            chosen = self.sampler(len(video), rng)
        except ValueError as error:
            raise VideoReadError(f"{src.path}: {error}") from error
        return self.preprocess(video[chosen])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        variant = index % self.variants
        for attempt in range(len(self.sources)):
            source = (variant + attempt) % len(self.sources)
            rng = np.random.default_rng([self.seed, index])
            try:
                clip = self._clip(source, rng)
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
                self._clip(i, np.random.default_rng([self.seed, i]))
            except VideoReadError as error:
                self._skip(src.path, str(error))
        if self.skipped:
            warnings.warn(
                f"{self.name}: {len(self.skipped)} of {len(self.sources)} videos "
                "skipped (named above)",
                stacklevel=2,
            )
        return dict(self.skipped)


# ---------------------------------------------------------------------------------
# Layouts


def _require_dir(root: Path, name: str, layout: str) -> Path:
    if not root.is_dir():
        raise DatasetLayoutError(f"{name}: root {root} is not a folder.\n{layout}")
    return root


def _find_subdir(root: Path, child: str) -> Path:
    """``root/child`` when it exists, else ``root`` (users may point at either)."""
    return root / child if (root / child).is_dir() else root


def _split_check(name: str, split: str, allowed: Sequence[str]) -> None:
    if split not in allowed:
        raise ValueError(
            f"{name}: split must be one of {tuple(allowed)}, got {split!r}"
        )


def _random_subset(sources: list[Source], count: int | None, seed: int) -> list[Source]:
    """``count`` sources chosen at random with ``seed`` (NAVS: 820 chairs, 500
    golf videos), in their original order; all when ``count`` is None."""
    if count is None:
        return sources
    if not 0 < count <= len(sources):
        raise ValueError(f"asked for {count} videos, found {len(sources)}")
    keep = np.random.default_rng(seed).choice(len(sources), count, replace=False)
    return [sources[i] for i in sorted(keep)]


WEIZMANN_PERSONS = (
    "daria",
    "denis",
    "eli",
    "ido",
    "ira",
    "lena",
    "lyova",
    "moshe",
    "shahar",
)
WEIZMANN_ACTIONS = (
    "bend", "jack", "jump", "pjump", "run", "side", "skip", "walk", "wave1", "wave2",
)  # fmt: skip
WEIZMANN_LAYOUT = """Expected layout (Weizmann Human Action, per-action zips unpacked):
  <root>/**/<person>_<action>.avi   e.g. daria_bend.avi, lena_run1.avi, lena_run2.avi
  person in {persons}
  action in {actions} (a trailing 1/2 marks a second take)""".format(
    persons=", ".join(WEIZMANN_PERSONS), actions=", ".join(WEIZMANN_ACTIONS)
)
#: Held-out (person, action) cells of the action-exchange split. NAVS Table 3 marks
#: its training cells with dots that our text copy of the paper does not keep, so
#: the default holds out one action per person along the diagonal.
ACTION_EXCHANGE_HELDOUT = tuple(
    (p, a) for p, a in zip(WEIZMANN_PERSONS, WEIZMANN_ACTIONS, strict=False)
)


def _weizmann_name(path: Path) -> tuple[str, str]:
    person, _, action = path.stem.partition("_")
    if action not in WEIZMANN_ACTIONS and action[-1:].isdigit():
        action = action[:-1]
    if person not in WEIZMANN_PERSONS or action not in WEIZMANN_ACTIONS:
        raise DatasetLayoutError(
            f"weizmann: unexpected file name {path}.\n{WEIZMANN_LAYOUT}"
        )
    return person, action


def weizmann_sources(
    root: Path,
    split: str,
    heldout_cells: Sequence[Sequence[str]] = ACTION_EXCHANGE_HELDOUT,
) -> list[Source]:
    """Weizmann videos of ``split``: ``train`` (all 93), ``exchange-train`` /
    ``exchange-test`` (NAVS Sec. 4.3.2 action exchange: without / only the
    ``heldout_cells`` (person, action) pairs). Labels ``identity``, ``action``."""
    _split_check("weizmann", split, ("train", "exchange-train", "exchange-test"))
    files = sorted(_require_dir(root, "weizmann", WEIZMANN_LAYOUT).rglob("*.avi"))
    held = {tuple(cell) for cell in heldout_cells}
    unknown = [
        c for c in held if c[0] not in WEIZMANN_PERSONS or c[1] not in WEIZMANN_ACTIONS
    ]
    if unknown:
        raise ValueError(
            f"weizmann: heldout_cells {unknown} are not (person, action) pairs"
        )
    sources = []
    for path in files:
        person, action = _weizmann_name(path)
        if split != "train" and ((person, action) in held) != (
            split == "exchange-test"
        ):
            continue
        labels = {
            "identity": WEIZMANN_PERSONS.index(person),
            "action": WEIZMANN_ACTIONS.index(action),
        }
        sources.append(Source("video", str(path), labels))
    if not sources:
        raise DatasetLayoutError(
            f"weizmann: no .avi videos under {root}.\n{WEIZMANN_LAYOUT}"
        )
    return sources


MUG_EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
MUG_LAYOUT = """Expected layout (MUG Facial Expression):
  <root>/subjects3/<subject>/<expression>/<take>/img_*.jpg   (or <root> = subjects3)
  expression in {} (others, e.g. neutral, are ignored);
  takes whose name contains 'nsg' are skipped.""".format(", ".join(MUG_EXPRESSIONS))


def mug_sources(root: Path, split: str) -> list[Source]:
    """MUG takes (frame folders). Labels ``identity`` (subject, sorted), ``action``
    (expression)."""
    _split_check("mug", split, ("train",))
    base = _find_subdir(_require_dir(root, "mug", MUG_LAYOUT), "subjects3")
    subjects = sorted(p for p in base.iterdir() if p.is_dir())
    sources = []
    for identity, subject in enumerate(subjects):
        for action, expression in enumerate(MUG_EXPRESSIONS):
            for take in sorted((subject / expression).glob("*")):
                if take.is_dir() and "nsg" not in take.name:
                    _require_frames(take, "mug", MUG_LAYOUT)
                    labels = {"identity": identity, "action": action}
                    sources.append(Source("frames", str(take), labels))
    if not sources:
        raise DatasetLayoutError(f"mug: no takes found under {base}.\n{MUG_LAYOUT}")
    return sources


def _require_frames(folder: Path, name: str, layout: str) -> None:
    if not frame_files(folder):
        raise DatasetLayoutError(f"{name}: {folder} holds no frames.\n{layout}")


UVA_NEMO_LAYOUT = """Expected layout (UvA-NEMO Smile), videos or frame folders (G3AN's
face-cropped frames) named <subject>_<deliberate|spontaneous>_smile_<take>:
  <root>/**/001_deliberate_smile_2.mp4      or
  <root>/**/001_spontaneous_smile_1/*.jpg"""
_UVA_NAME = re.compile(r"^(\d+)_(deliberate|spontaneous)_smile_(\d+)$")


def uva_nemo_sources(root: Path, split: str) -> list[Source]:
    """UvA-NEMO smiles. Labels ``identity`` (subject, sorted), ``action``
    (0 deliberate / posed, 1 spontaneous)."""
    _split_check("uva-nemo", split, ("train",))
    found = []
    for path in sorted(_require_dir(root, "uva-nemo", UVA_NEMO_LAYOUT).rglob("*")):
        match = _UVA_NAME.match(path.stem)
        is_video = path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES
        if match and (is_video or path.is_dir()):
            if path.is_dir():
                _require_frames(path, "uva-nemo", UVA_NEMO_LAYOUT)
            found.append((path, match.group(1), match.group(2)))
    subjects = sorted({subject for _, subject, _ in found})
    sources = [
        Source(
            "video" if path.is_file() else "frames",
            str(path),
            {"identity": subjects.index(subject), "action": int(kind == "spontaneous")},
        )
        for path, subject, kind in found
    ]
    if not sources:
        raise DatasetLayoutError(
            f"uva-nemo: nothing found under {root}.\n{UVA_NEMO_LAYOUT}"
        )
    return sources


UCF101_LAYOUT = """Expected layout (UCF101 and its official split lists):
  <root>/UCF-101/<Class>/v_<Class>_g<GG>_c<CC>.avi
  <root>/ucfTrainTestlist/classInd.txt            lines '1 ApplyEyeMakeup'
  <root>/ucfTrainTestlist/trainlist0<fold>.txt    lines '<Class>/v_...avi <label>'
  <root>/ucfTrainTestlist/testlist0<fold>.txt     lines '<Class>/v_...avi'"""


def ucf101_sources(root: Path, split: str, fold: int = 1) -> list[Source]:
    """UCF101 videos of the official ``fold`` (1-3) ``train`` or ``test`` list.
    Labels ``action`` (classInd - 1) and ``group`` (gGG). Videos named in the list
    but missing on disk are skipped with a warning each and a count."""
    _split_check("ucf101", split, ("train", "test"))
    if fold not in (1, 2, 3):
        raise ValueError(f"ucf101: fold must be 1, 2 or 3, got {fold}")
    _require_dir(root, "ucf101", UCF101_LAYOUT)
    lists, videos = root / "ucfTrainTestlist", root / "UCF-101"
    listing = lists / f"{split}list0{fold}.txt"
    for needed in (lists / "classInd.txt", listing, videos):
        if not needed.exists():
            raise DatasetLayoutError(f"ucf101: missing {needed}.\n{UCF101_LAYOUT}")
    classes = {}
    for line in (lists / "classInd.txt").read_text().split("\n"):
        if line.strip():
            number, name = line.split()
            classes[name] = int(number) - 1
    sources, missing = [], []
    for line in listing.read_text().split("\n"):
        if not line.strip():
            continue
        relative = line.split()[0]
        path = videos / relative
        if not path.is_file():
            missing.append(str(path))
            warnings.warn(
                f"ucf101: {path} is in {listing.name} but missing", stacklevel=2
            )
            continue
        group = re.search(r"_g(\d+)_c\d+", path.stem)
        if relative.split("/")[0] not in classes or group is None:
            raise DatasetLayoutError(
                f"ucf101: unexpected entry {relative!r}.\n{UCF101_LAYOUT}"
            )
        labels = {
            "action": classes[relative.split("/")[0]],
            "group": int(group.group(1)),
        }
        sources.append(Source("video", str(path), labels))
    if missing:
        warnings.warn(
            f"ucf101: {len(missing)} listed videos missing (named above)", stacklevel=2
        )
    return sources


CHAIR_CAD_LAYOUT = """Expected layout (Chair-CAD, rendered_chairs.tar unpacked):
  <root>/rendered_chairs/<model>/renders/image_<idx>_p<elev>_t<azim>_r096.png
  (or <root> = rendered_chairs); the first 16 sorted PNGs of each model are used."""


def chair_cad_sources(
    root: Path, split: str, frames_per_chair: int = 16
) -> list[Source]:
    """Chair-CAD: the first ``frames_per_chair`` sorted renders of each model (NAVS).
    Label ``identity`` (model index, sorted)."""
    _split_check("chair-cad", split, ("train",))
    base = _find_subdir(
        _require_dir(root, "chair-cad", CHAIR_CAD_LAYOUT), "rendered_chairs"
    )
    sources = []
    for renders in sorted(base.glob("*/renders")):
        files = [p for p in frame_files(renders) if p.suffix.lower() == ".png"]
        if not files:
            raise DatasetLayoutError(
                f"chair-cad: {renders} holds no PNGs.\n{CHAIR_CAD_LAYOUT}"
            )
        files = files[:frames_per_chair]
        labels = {"identity": len(sources)}
        sources.append(Source("frames", str(renders), labels, tuple(map(str, files))))
    if not sources:
        raise DatasetLayoutError(
            f"chair-cad: no */renders folders in {base}.\n{CHAIR_CAD_LAYOUT}"
        )
    return sources


GOLF_LAYOUT = """Expected layout (VGAN golf scenes): JPEG strips of square frames
stacked vertically (128 x 4096 = 32 frames of 128x128), anywhere below the root:
  <root>/**/*.jpg"""


def golf_sources(root: Path, split: str) -> list[Source]:
    """VGAN golf clips (vertical strips); no labels."""
    _split_check("golf", split, ("train",))
    files = sorted(_require_dir(root, "golf", GOLF_LAYOUT).rglob("*.jpg"))
    if not files:
        raise DatasetLayoutError(f"golf: no .jpg strips under {root}.\n{GOLF_LAYOUT}")
    return [Source("strip", str(path)) for path in files]


SPRITES_ACTIONS = ("walk", "spellcard", "slash")
SPRITES_DIRECTIONS = ("front", "left", "right")
SPRITES_ATTRIBUTES = ("body", "bottom", "top", "hair")
SPRITES_LAYOUT = """Expected layout (LPC Sprites of Li & Mandt, YingzhenLi/Sprites):
  <root>/npy/<action>_<direction>_frames_<split>.npy       (N, 8, 64, 64, 3) in [0, 1)
  <root>/npy/<action>_<direction>_attributes_<split>.npy   (N, 8, 4, 6) one-hot
  (or <root> = npy); action in walk, spellcard, slash;
  direction in front, left, right"""


def sprites_sources(root: Path, split: str) -> list[Source]:
    """Sprites rows. Labels ``action`` (3 * action + direction, as DSA's
    ``sprites_act``), the four attributes, and ``identity`` (the character, base 6)."""
    _split_check("sprites", split, ("train", "test"))
    base = _find_subdir(_require_dir(root, "sprites", SPRITES_LAYOUT), "npy")
    sources = []
    for a, action in enumerate(SPRITES_ACTIONS):
        for d, direction in enumerate(SPRITES_DIRECTIONS):
            frames = base / f"{action}_{direction}_frames_{split}.npy"
            attributes = base / f"{action}_{direction}_attributes_{split}.npy"
            for needed in (frames, attributes):
                if not needed.is_file():
                    raise DatasetLayoutError(
                        f"sprites: missing {needed}.\n{SPRITES_LAYOUT}"
                    )
            video = np.load(frames, mmap_mode="r")
            attr = np.load(attributes, mmap_mode="r")
            if video.ndim != 5 or attr.shape[:1] + attr.shape[2:] != (len(video), 4, 6):
                raise DatasetLayoutError(
                    f"sprites: {frames.name} {video.shape} / {attributes.name} "
                    f"{attr.shape} do not match.\n{SPRITES_LAYOUT}"
                )
            values = np.asarray(attr[:, 0]).argmax(-1)  # (N, 4)
            for row, value in enumerate(values):
                labels = {"action": 3 * a + d} | dict(
                    zip(SPRITES_ATTRIBUTES, map(int, value), strict=True)
                )
                labels["identity"] = int(np.ravel_multi_index(tuple(value), (6,) * 4))
                sources.append(Source("array", str(frames), labels, row=row))
    return sources


FOLDER_LAYOUT = """Expected layout (generic; the class is the folder name):
  <root>/<class>/<video>.mp4|.avi|...    or
  <root>/<class>/<video>/<frame>.jpg|.png"""


def folder_sources(root: Path, split: str) -> list[Source]:
    """Every video file or frame folder one level below each class folder. Label
    ``action`` (class index, classes sorted by name)."""
    _split_check("folder", split, ("train",))
    classes = sorted(
        p for p in _require_dir(root, "folder", FOLDER_LAYOUT).iterdir() if p.is_dir()
    )
    if not classes:
        raise DatasetLayoutError(
            f"folder: no class folders in {root}.\n{FOLDER_LAYOUT}"
        )
    sources = []
    for action, folder in enumerate(classes):
        found = []
        for item in sorted(folder.iterdir()):
            if item.is_file() and item.suffix.lower() in VIDEO_SUFFIXES:
                found.append(Source("video", str(item), {"action": action}))
            elif item.is_dir() and frame_files(item):
                found.append(Source("frames", str(item), {"action": action}))
        if not found:
            raise DatasetLayoutError(
                f"folder: class folder {folder} holds no videos "
                f"({', '.join(VIDEO_SUFFIXES)}) "
                f"and no frame folders ({', '.join(IMAGE_SUFFIXES)}).\n{FOLDER_LAYOUT}"
            )
        sources += found
    return sources


# ---------------------------------------------------------------------------------
# The factory


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
    root = Path(root).expanduser().resolve()
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
