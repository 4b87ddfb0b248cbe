"""Tiny files in each real dataset's on-disk layout, for tests and the data chapter.

Every fixture video is :func:`fixture_video`: a colour ramp (red grows to the right,
green downwards, blue encodes the video's number) with a white square that moves one
``speed`` pixels to the right per frame, so a loaded clip reveals its crop position
(red/green), its source (blue) and its temporal step (the square's motion).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vidlib.data.datasets import (
    MUG_EXPRESSIONS,
    SPRITES_ACTIONS,
    SPRITES_DIRECTIONS,
)
from vidlib.data.video import write_video


def fixture_video(
    frames: int, height: int, width: int, number: int = 0, speed: int = 1
) -> np.ndarray:
    """``(T, H, W, 3)`` uint8: ramps plus a square at ``x = speed * t`` (top left)."""
    y, x = np.mgrid[:height, :width]
    base = np.stack(
        [
            np.rint(255 * x / max(width - 1, 1)),
            np.rint(255 * y / max(height - 1, 1)),
            np.full_like(x, (40 * number) % 256),
        ],
        -1,
    ).astype(np.uint8)
    video = np.repeat(base[None], frames, 0)
    side = max(2, min(height, width) // 6)
    for t in range(frames):
        left = (speed * t) % (width - side)
        video[
            t, height // 2 - side // 2 : height // 2 + side // 2, left : left + side
        ] = 255
    return video


def square_position(video: np.ndarray) -> np.ndarray:
    """Left edge (pixels) of the white square in each frame of ``(T, H, W, 3)``."""
    white = (video.astype(int).sum(-1) >= 3 * 235).any(1)  # (T, W)
    return white.argmax(1)


def _write_frames(folder: Path, video: np.ndarray, suffix: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(video):
        Image.fromarray(frame).save(folder / f"img_{t:04d}{suffix}", quality=95)


def write_weizmann(
    root: Path,
    persons: tuple[str, ...] = ("daria", "ido", "lena"),
    actions: tuple[str, ...] = ("bend", "run", "wave1"),
    frames: int = 24,
    size: tuple = (36, 44),
) -> Path:
    """``<root>/<person>_<action>.avi`` (lena's run as ``run1``/``run2``)."""
    root.mkdir(parents=True, exist_ok=True)
    number = 0
    for person in persons:
        for action in actions:
            names = (
                [f"{action}1", f"{action}2"]
                if person == "lena" and action == "run"
                else [action]
            )
            for name in names:
                write_video(
                    root / f"{person}_{name}.avi", fixture_video(frames, *size, number)
                )
                number += 1
    return root


def write_mug(
    root: Path, subjects: int = 2, frames: int = 20, size: tuple = (32, 32)
) -> Path:
    """``<root>/subjects3/<subject>/<expression>/<take>/img_*.jpg`` plus one
    ``nsg`` take that the loader must skip."""
    number = 0
    for subject in range(subjects):
        for expression in MUG_EXPRESSIONS[:2]:
            folder = root / "subjects3" / f"{subject + 1:03d}" / expression
            _write_frames(
                folder / "take000", fixture_video(frames, *size, number), ".jpg"
            )
            number += 1
    _write_frames(
        root / "subjects3" / "001" / "anger" / "nsg_take", fixture_video(frames, *size)
    )
    return root


def write_uva_nemo(root: Path, frames: int = 20, size: tuple = (32, 40)) -> Path:
    """Two subjects: mp4 videos and one G3AN-style frame folder."""
    root.mkdir(parents=True, exist_ok=True)
    write_video(
        root / "001_deliberate_smile_1.mp4",
        fixture_video(frames, *size, 0),
        lossless=True,
    )
    write_video(
        root / "001_spontaneous_smile_2.mp4",
        fixture_video(frames, *size, 1),
        lossless=True,
    )
    _write_frames(
        root / "frames" / "002_spontaneous_smile_1", fixture_video(frames, *size, 2)
    )
    return root


def write_ucf101(
    root: Path,
    classes: tuple = ("ApplyEyeMakeup", "Basketball"),
    frames: int = 20,
    size: tuple = (24, 32),
) -> Path:
    """``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist`` (fold 1:
    groups 1-7 test, the rest train; one group of each per class)."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text(
        "".join(f"{i + 1} {c}\n" for i, c in enumerate(classes))
    )
    train, test = [], []
    for i, name in enumerate(classes):
        (root / "UCF-101" / name).mkdir(parents=True, exist_ok=True)
        for group in (1, 8):
            relative = f"{name}/v_{name}_g{group:02d}_c01.avi"
            write_video(
                root / "UCF-101" / relative,
                fixture_video(frames, *size, 2 * i + (group > 7)),
            )
            (test if group <= 7 else train).append(relative)
    (lists / "trainlist01.txt").write_text(
        "".join(f"{r} {classes.index(r.split('/')[0]) + 1}\n" for r in train)
    )
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    return root


def write_chair_cad(root: Path, chairs: int = 3, size: int = 60) -> Path:
    """``rendered_chairs/<model>/renders/image_<idx>_p<elev>_t<azim>_r096.png``:
    62 views, the first 31 at elevation 20 (azimuth order), then 32-62 at 30."""
    for chair in range(chairs):
        renders = root / "rendered_chairs" / f"{chair:04x}cafe" / "renders"
        renders.mkdir(parents=True, exist_ok=True)
        video = fixture_video(62, size, size, chair)
        for view in range(62):
            idx = view if view < 31 else view + 1
            elevation = 20 if view < 31 else 30
            azimuth = round(360 * (view % 31) / 31)
            name = f"image_{idx:03d}_p{elevation:03d}_t{azimuth:03d}_r096.png"
            Image.fromarray(video[view]).save(renders / name)
    return root


def write_golf(root: Path, videos: int = 3, frames: int = 20, size: int = 32) -> Path:
    """VGAN strips: ``<root>/<scene>/<clip>.jpg`` of ``frames`` stacked frames."""
    folder = root / "golf" / "frames-stable"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(videos):
        strip = fixture_video(frames, size, size, i).reshape(frames * size, size, 3)
        Image.fromarray(strip).save(folder / f"clip{i:03d}.jpg", quality=95)
    return root


def write_sprites(root: Path, characters: int = 2, split: str = "train") -> Path:
    """``npy/<action>_<direction>_{frames,attributes}_<split>.npy`` with float
    frames ``uint8 / 256`` (as ``frame_to_npy.py``) and one-hot attributes."""
    folder = root / "npy"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for a, action in enumerate(SPRITES_ACTIONS):
        for d, direction in enumerate(SPRITES_DIRECTIONS):
            number = 3 * a + d
            video = np.stack(
                [fixture_video(8, 64, 64, number + 9 * c) for c in range(characters)]
            )
            values = rng.integers(6, size=(characters, 4))
            attributes = np.zeros((characters, 8, 4, 6), np.float32)
            for c in range(characters):
                attributes[c, :, np.arange(4), values[c]] = 1
            np.save(
                folder / f"{action}_{direction}_frames_{split}.npy",
                (video / 256).astype(np.float32),
            )
            np.save(folder / f"{action}_{direction}_attributes_{split}.npy", attributes)
    return root


def write_folder(root: Path, frames: int = 20, size: tuple = (32, 32)) -> Path:
    """``<root>/<class>/``: ``jump`` has an mp4 and a frame folder, ``wave`` an avi."""
    (root / "jump").mkdir(parents=True, exist_ok=True)
    (root / "wave").mkdir(parents=True, exist_ok=True)
    write_video(root / "jump" / "a.mp4", fixture_video(frames, *size, 0), lossless=True)
    _write_frames(root / "jump" / "b", fixture_video(frames, *size, 1))
    write_video(root / "wave" / "c.avi", fixture_video(frames, *size, 2))
    return root
