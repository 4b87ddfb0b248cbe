"""Video I/O at the uint8 boundary: read videos, frame folders and image strips, write
mp4 and GIF, and sample clips.

Every reader returns ``(T, H, W, 3)`` uint8 (RGB). Decoding uses PyAV, whose wheel
bundles FFmpeg (torchvision >= 0.28 has no video I/O). Every failure raises
:class:`VideoReadError` naming the file and what was expected.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    import av

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")


class VideoReadError(ValueError):
    """A video, frame folder or image strip that cannot be read as expected."""


def read_video(
    path: str | Path,
    max_frames: int | None = None,
    choose: Callable[[int], Sequence[int]] | None = None,
) -> np.ndarray:
    """Decode the first video stream of ``path`` (any FFmpeg format) into
    ``(T, H, W, 3)`` uint8: all frames, or the first ``max_frames``.

    With ``choose`` (a pure function of the video's length), only the frames
    ``choose(length)`` (increasing indices) are returned. ``length`` comes from the
    container's frame count (capped at ``max_frames``) and decoding stops after the
    last chosen frame; when the container gives no count, or the file ends early,
    the whole video is decoded and ``choose`` gets the decoded length.
    """
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        length = min(stream.frames, max_frames or stream.frames)
        wanted = list(choose(length)) if choose is not None and length > 0 else None
        frames = _decode(path, container, wanted, max_frames)
    if wanted is not None and len(frames) == len(wanted):
        return np.stack(frames)
    if wanted is not None:
        with _open(path) as container:
            frames = _decode(path, container, None, max_frames)
    if not frames:
        raise VideoReadError(f"{path}: the video has no decodable frames")
    video = np.stack(frames)
    return video if choose is None else video[list(choose(len(video)))]


def _av() -> ModuleType:
    """PyAV, imported on first use: Shapes, and training on them, decode no video."""
    return importlib.import_module("av")


def _open(path: Path) -> av.container.InputContainer:
    av = _av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise VideoReadError(
            f"{path}: cannot open video ({error}); expected a readable video file "
            f"such as {', '.join(VIDEO_SUFFIXES)}"
        ) from error
    if not container.streams.video:
        container.close()
        raise VideoReadError(
            f"{path}: no video stream; expected a file with a video track (this one "
            "holds none: audio only, or cut off before its index)"
        )
    container.streams.video[0].thread_type = "SLICE"  # cheap for short reads
    return container


def _decode(
    path: Path,
    container: av.container.InputContainer,
    wanted: Sequence[int] | None,
    max_frames: int | None,
) -> list[np.ndarray]:
    """Frames ``wanted`` (all when None, at most ``max_frames``) as RGB arrays."""
    last = wanted[-1] + 1 if wanted else max_frames
    chosen = set(wanted) if wanted is not None else None
    frames, av = [], _av()
    try:
        for t, frame in enumerate(container.decode(video=0)):
            if chosen is None or t in chosen:
                frames.append(frame.to_ndarray(format="rgb24"))
            if last is not None and t + 1 >= last:
                break
    except (av.FFmpegError, OSError) as error:
        raise VideoReadError(
            f"{path}: cannot decode video ({error}); the file may be truncated"
        ) from error
    return frames


def read_image(path: str | Path) -> np.ndarray:
    """One image file as ``(H, W, 3)`` uint8 RGB."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise VideoReadError(f"{path}: cannot read image ({error})") from error


def frame_files(folder: str | Path) -> list[Path]:
    """Sorted image files (``IMAGE_SUFFIXES``) directly inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoReadError(f"{folder}: not a folder of frames")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_frames(
    folder: str | Path | Sequence[Path], max_frames: int | None = None
) -> np.ndarray:
    """A frame folder (sorted ``*.jpg``/``*.png``), or an explicit list of frame
    files, as ``(T, H, W, 3)`` uint8. All frames must have the same size."""
    files = list(folder) if not isinstance(folder, str | Path) else frame_files(folder)
    if not files:
        raise VideoReadError(
            f"{folder}: no frames; expected image files ({', '.join(IMAGE_SUFFIXES)})"
        )
    files = files[:max_frames] if max_frames is not None else files
    frames = [read_image(files[0])]
    for file in files[1:]:
        frame = read_image(file)
        if frame.shape != frames[0].shape:
            raise VideoReadError(
                f"{file}: frame size {frame.shape[1]}x{frame.shape[0]} differs from "
                f"{files[0].name} ({frames[0].shape[1]}x{frames[0].shape[0]}); every "
                "frame of a video must have the same size"
            )
        frames.append(frame)
    return np.stack(frames)


def read_strip(
    path: str | Path, axis: str = "vertical", max_frames: int | None = None
) -> np.ndarray:
    """An image strip of square frames (VGAN: stacked vertically, MoCoGAN:
    horizontally) as ``(T, H, W, 3)`` uint8, ``T = long side // short side``."""
    image = read_image(path)
    height, width = image.shape[:2]
    size = width if axis == "vertical" else height
    length = height if axis == "vertical" else width
    if axis not in ("vertical", "horizontal") or length < size or length % size:
        raise VideoReadError(
            f"{path}: a {axis} strip of square frames must be {size} x (T * {size}) "
            f"pixels, got {width}x{height} (width x height)"
        )
    frames = length // size
    if axis == "vertical":
        video = image.reshape(frames, size, width, 3)
    else:
        video = image.reshape(height, frames, size, 3).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(video[:max_frames])


def write_video(
    path: str | Path, video: np.ndarray, fps: int = 25, lossless: bool = False
) -> None:
    """Write ``(T, H, W, 3)`` uint8 as a video. ``.mp4``: H.264 (``lossless``: RGB
    H.264 with qp 0, decodes back bit-exactly); ``.avi``: MPEG-4 part 2."""
    video = _check_uint8_video(video)
    path = Path(path)
    if path.suffix.lower() == ".avi":
        codec, options, pix_fmt = "mpeg4", {"qscale": "2"}, "yuv420p"
    elif lossless:
        codec, options, pix_fmt = "libx264rgb", {"qp": "0"}, "rgb24"
    else:
        codec, options, pix_fmt = "libx264", {"crf": "18"}, "yuv420p"
    av = _av()
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height = video.shape[2], video.shape[1]
        stream.pix_fmt = pix_fmt
        if path.suffix.lower() == ".avi":
            stream.codec_context.qscale = 2
        for frame in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")))
        container.mux(stream.encode())


def write_gif(path: str | Path, video: np.ndarray, fps: float = 8) -> None:
    """Write ``(T, H, W, 3)`` uint8 as a looping GIF."""
    frames = [Image.fromarray(frame) for frame in _check_uint8_video(video)]
    frames[0].save(
        path,
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,
    )


def _check_uint8_video(video: np.ndarray) -> np.ndarray:
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(
            f"expected a (T, H, W, 3) uint8 video, got {video.dtype} {video.shape}"
        )
    if video.shape[1] % 2 or video.shape[2] % 2:
        raise ValueError(f"height and width must be even, got {video.shape[1:3]}")
    return video


class ClipSampler:
    """Frame indices of a ``frames``-long clip: a random temporal step from ``steps``
    (among those that fit) and a random start.

    G3AN Sec. 4 samples "a random time step ranging between 1 and 4", the default;
    the official G3AN code uses {2, 3}. ``random_start=False`` starts at frame 0
    (Chair-CAD's fixed first frames).
    """

    def __init__(
        self,
        frames: int,
        steps: Sequence[int] = (1, 2, 3, 4),
        random_start: bool = True,
    ) -> None:
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        if not steps or any(int(s) < 1 for s in steps):
            raise ValueError(f"steps must be a non-empty list of ints >= 1: {steps}")
        self.frames = frames
        self.steps = tuple(sorted({int(s) for s in steps}))
        self.random_start = random_start

    def span(self, step: int) -> int:
        """Frames a clip covers with temporal ``step``."""
        return (self.frames - 1) * step + 1

    def __call__(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """Indices ``(frames,)`` into a video of ``length`` frames."""
        fitting = [s for s in self.steps if self.span(s) <= length]
        if not fitting:
            raise ValueError(
                f"video of {length} frames is shorter than a clip of {self.frames} "
                f"frames with step {self.steps[0]} ({self.span(self.steps[0])} frames)"
            )
        step = fitting[rng.integers(len(fitting))]
        free = length - self.span(step)
        start = int(rng.integers(free + 1)) if self.random_start else 0
        return start + step * np.arange(self.frames)

    def config(self) -> dict:
        """The sampler as primitives."""
        return {
            "frames": self.frames,
            "steps": list(self.steps),
            "random_start": self.random_start,
        }
