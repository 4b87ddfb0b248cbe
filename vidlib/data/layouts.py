"""On-disk layouts of the papers' datasets: for each, the expected layout (shown in
every error), and a function ``<name>_sources(root, split, ...)`` that checks ``root``
up front and lists its videos as :class:`Source` entries with their labels.

Where the layout of a public release is uncertain, the documented one is supported
(``../shared/reference/metrics-and-datasets.md`` section 5) and said so in the layout
text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidlib.data.video import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
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
