"""Shapes v1: a procedural video dataset with known appearance and motion factors.

One coloured shape moves over a background. Every video is a pure function of
``(seed, split, index)`` and renders at any resolution ``H = W >= 8`` and any length
``T >= 1`` (``T == 1`` is an image). Items are ``{"video": (3, T, H, W) in [-1, 1],
"index": int, **labels}``.

=============  ========================================  =============================
factor         values                                    intra-class variation
=============  ========================================  =============================
shape          circle, square, triangle, diamond, cross  size (radius, frame fraction)
color          red, green, blue, yellow, magenta, cyan   --
background     black, gray, gradient (dark, vertical)    --
action         right, left, up, down                     start, speed = distance
               orbit (one counter-clockwise turn)        start, speed = 2 x radius,
                                                         phase = start angle
               pulse (scale = 1 + speed sin(2 pi s +     start, speed = amplitude,
               phase), one cycle)                        phase
=============  ========================================  =============================

Motion is a parametric path (``ShapesPath``) over clip time ``s = t / (T - 1)`` in
``[0, 1]``, so ``T`` only changes the temporal sampling. Positions are fractions of the
frame, ``x`` to the right and ``y`` down; the path moves the centre of the shape's
bounding box, and the whole shape stays at least ``MARGIN`` of the frame away from the
border (at resolution >= 16 no border pixel is ever covered). Shapes are rendered
anti-aliased from signed distance functions in pixel units, ``coverage = clip(0.5 -
sdf, 0, 1)``, and composited over the background.

Labels ``shape``, ``color``, ``background`` and ``action`` index the global tuples
``SHAPES``, ``tuple(COLORS)``, ``BACKGROUNDS`` and ``ACTIONS`` (also for configs that
use subsets), so a label means the same thing in every config.

Ground-truth optical flow (``ShapesVideos(..., with_flow=True)`` adds ``item["flow"]``,
``(2, T - 1, H, W)`` float32, channels ``(dx, dy)`` in pixels, :func:`flow`): the
object neither rotates nor deforms, so between frames ``t`` and ``t + 1`` it moves by
a similarity ``p -> c_{t+1} + (p - c_t) k_{t+1} / k_t`` (centre ``c``, scale ``k``).
Pixels the object covers at least half in frame ``t`` carry that displacement, all
other pixels (the static background) carry zero. Forward flow: frame ``t + 1`` at
``p + flow(p)`` shows what frame ``t`` shows at ``p``, except where the object
uncovers or covers background (occlusion boundaries).

Batches also render on any torch device (a GPU, or the CPU): :func:`render_batch`
takes many videos' factors, and ``ShapesVideos.batch(indices, device)`` returns what a
``DataLoader`` would collate from those items, every tensor on ``device``. Sampling
and each frame's coordinates stay in numpy, so the videos are the same; the per-pixel
work (the SDFs, written once for numpy and torch, coverage, compositing, flow's mask)
runs as a few tensor operations on the whole batch. Pixels equal the numpy renderer's
up to float32 rounding (torch's sqrt is not correctly rounded everywhere): within
1e-5 in ``[-1, 1]`` at 64x64 (``tests/test_shapes_torch.py``). Throughput of both:
``benchmarks/shapes_render.py``, numbers in the README.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from types import ModuleType
from typing import TypeVar

import numpy as np
import torch
from einops import rearrange

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "cyan": (0.0, 1.0, 1.0),
}
BACKGROUNDS: tuple[str, ...] = ("black", "gray", "gradient")
ACTIONS: tuple[str, ...] = ("right", "left", "up", "down", "orbit", "pulse")
FACTORS: tuple[str, ...] = ("shape", "color", "background", "action")
SPLITS: dict[str, int] = {"train": 0, "test": 1, "heldout": 2}
_FACTOR_FIELDS = ("shapes", "colors", "backgrounds", "actions")  # ShapesConfig names

DATASET = "shapes-v2"
"""What Shapes draws, versioned: every cache and committed run that depends on the
videos records it, so a change to how a config is sampled or rendered bumps it (v2:
a path's midpoint no longer depends on the action)."""

MARGIN = 1 / 16
"""Smallest gap between the shape and the frame border, as a fraction of the frame."""

_DIRECTIONS: dict[str, tuple[float, float]] = {
    "right": (1.0, 0.0),
    "left": (-1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}
_GRADIENT_TOP = (0.08, 0.08, 0.2)
_GRADIENT_BOTTOM = (0.3, 0.22, 0.15)


def label_names(key: str) -> tuple[str, ...]:
    """Names that the integer label ``key`` (one of ``FACTORS``) indexes."""
    names = {
        "shape": SHAPES,
        "color": tuple(COLORS),
        "background": BACKGROUNDS,
        "action": ACTIONS,
    }
    if key not in names:
        raise ValueError(f"label key must be one of {FACTORS}, got {key!r}")
    return names[key]


def clip_times(frames: int) -> np.ndarray:
    """Normalised clip time ``s = t / (T - 1)`` of each frame, shape ``(T,)``."""
    return np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)


@dataclass(frozen=True)
class ShapesPath:
    """Centre and scale of the object over clip time ``s`` (lengths: frame fractions).

    ``centre(s) = pivot + shift s + orbit_radius (cos a(s), -sin a(s))`` with
    ``a(s) = orbit_angle + 2 pi orbit_turns s`` (counter-clockwise on screen), and
    ``scale(s) = 1 + pulse_amplitude sin(2 pi s + pulse_phase)``. In pixels a
    position ``x`` is ``x * resolution``, with pixel ``i`` centred at ``i + 0.5``.
    """

    pivot: tuple[float, float]
    shift: tuple[float, float] = (0.0, 0.0)
    orbit_radius: float = 0.0
    orbit_angle: float = 0.0
    orbit_turns: float = 0.0
    pulse_amplitude: float = 0.0
    pulse_phase: float = 0.0

    def centre(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Object centre ``(x, y)`` at clip times ``s``, each shaped like ``s``."""
        angle = self.orbit_angle + 2 * math.pi * self.orbit_turns * s
        x = self.pivot[0] + self.shift[0] * s + self.orbit_radius * np.cos(angle)
        y = self.pivot[1] + self.shift[1] * s - self.orbit_radius * np.sin(angle)
        return x, y

    def scale(self, s: np.ndarray) -> np.ndarray:
        """Object scale (1 = ``size``) at clip times ``s``, shaped like ``s``."""
        return 1 + self.pulse_amplitude * np.sin(2 * math.pi * s + self.pulse_phase)


@dataclass(frozen=True)
class ShapesFactors:
    """Every factor of one video: categorical names, continuous values and the path.

    ``size`` is the radius (half the bounding box) at scale 1, ``x0, y0`` the centre
    at ``s = 0``, both frame fractions; ``phase`` (radians) is 0 for translations.
    """

    shape: str
    color: str
    background: str
    action: str
    size: float
    speed: float
    phase: float
    x0: float
    y0: float
    path: ShapesPath

    def labels(self) -> dict[str, int | float]:
        """Integer labels into the global tuples plus the continuous factors."""
        categorical = {
            key: label_names(key).index(getattr(self, key)) for key in FACTORS
        }
        continuous = ("size", "speed", "phase", "x0", "y0")
        return categorical | {key: float(getattr(self, key)) for key in continuous}


def _check_names(
    parameter: str, values: tuple[str, ...], allowed: Sequence[str]
) -> None:
    unknown = [v for v in values if v not in allowed]
    if not values or unknown or len(set(values)) != len(values):
        raise ValueError(
            f"{parameter} must be a non-empty list of distinct names from "
            f"{tuple(allowed)}, got {values!r}"
        )


def _check_range(parameter: str, bounds: tuple[float, float], upper: float) -> None:
    low, high = bounds
    if not 0 < low <= high < upper:
        raise ValueError(
            f"{parameter} must be (low, high) with 0 < low <= high < {upper}, "
            f"got {bounds!r}"
        )


def _required_width(size: float, speed: float) -> float:
    """Frame fraction every path needs along each axis, margins included: the
    object's extent on both sides of a midpoint box as wide as the amount of motion
    (which also holds a pulse's growth, since ``size * speed < speed / 2``)."""
    return 2 * (size + MARGIN) + speed


@dataclass(frozen=True)
class ShapesConfig:
    """What Shapes renders and samples from.

    ``size_range``: object radius as a fraction of the frame. ``speed_range``: amount
    of motion, a fraction of the frame for translations (distance) and orbits
    (diameter), the relative scale amplitude for pulses.
    """

    resolution: int = 64
    frames: int = 16
    shapes: tuple[str, ...] = SHAPES
    colors: tuple[str, ...] = tuple(COLORS)
    backgrounds: tuple[str, ...] = BACKGROUNDS
    actions: tuple[str, ...] = ACTIONS
    size_range: tuple[float, float] = (0.12, 0.18)
    speed_range: tuple[float, float] = (0.3, 0.5)

    def __post_init__(self) -> None:
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        if self.resolution < 8:
            raise ValueError(f"resolution must be >= 8, got {self.resolution}")
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")
        for key, parameter in zip(FACTORS, _FACTOR_FIELDS, strict=True):
            _check_names(parameter, getattr(self, parameter), label_names(key))
        _check_range("size_range", self.size_range, 0.5)
        _check_range("speed_range", self.speed_range, 1.0)
        widest = _required_width(self.size_range[1], self.speed_range[1])
        if widest > 1:
            raise ValueError(
                f"size_range {self.size_range} and speed_range {self.speed_range} "
                f"do not fit in the frame: the paths need {widest:.3f} of its width "
                "(at most 1)"
            )

    def as_dict(self) -> dict:
        """The config as primitives only (lists, not tuples), for hashing and JSON."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }


Combination = tuple[str, str, str, str]


def _matches(combination: Combination, entry: Mapping[str, str]) -> bool:
    named = dict(zip(FACTORS, combination, strict=True))
    return all(named[key] == value for key, value in entry.items())


def _check_holdout(holdout: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    entries = []
    for i, entry in enumerate(holdout):
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"holdout must be a list of mappings like {{'shape': 'circle'}}, "
                f"entry {i} is {entry!r}"
            )
        if not entry:
            raise ValueError(f"holdout entry {i} is empty; give keys from {FACTORS}")
        for key, value in entry.items():
            if key not in FACTORS:
                raise ValueError(
                    f"holdout entry {i} has unknown key {key!r}; keys are {FACTORS}"
                )
            if value not in label_names(key):
                raise ValueError(
                    f"holdout entry {i} has unknown {key} {value!r}; "
                    f"allowed: {label_names(key)}"
                )
        entries.append(dict(entry))
    return entries


def combinations(
    config: ShapesConfig, holdout: Sequence[Mapping[str, str]], split: str
) -> list[Combination]:
    """The (shape, color, background, action) tuples that ``split`` samples from."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    entries = _check_holdout(holdout)
    product = itertools.product(*(getattr(config, name) for name in _FACTOR_FIELDS))
    held = split == "heldout"
    chosen = [c for c in product if any(_matches(c, e) for e in entries) == held]
    if not chosen and held:
        raise ValueError(
            f"holdout {entries} matches none of the config's combinations; "
            "split 'heldout' would be empty"
        )
    if not chosen:
        raise ValueError(
            f"holdout {entries} removes every combination of the config's factors; "
            f"split {split!r} would be empty"
        )
    return chosen


def sample_factors(
    config: ShapesConfig, combination: Combination, rng: np.random.Generator
) -> ShapesFactors:
    """Draw the continuous factors of one video of ``combination`` from ``rng``."""
    shape, color, background, action = combination
    size = float(rng.uniform(*config.size_range))
    speed = float(rng.uniform(*config.speed_range))
    phase = float(rng.uniform(0.0, 2 * math.pi))
    units = rng.uniform(size=2)
    direction = _DIRECTIONS.get(action, (0.0, 0.0))
    shift = (speed * direction[0], speed * direction[1])
    reach = speed / 2 if action == "orbit" else 0.0
    # The path's midpoint comes from one box for every action, so where an object
    # is says nothing about how it moves (content and motion are independent).
    low = size + MARGIN + speed / 2
    midpoint = [low + float(u) * (1 - 2 * low) for u in units]
    pivot = tuple(m - sh / 2 for m, sh in zip(midpoint, shift, strict=True))
    path = ShapesPath(
        pivot=pivot,
        shift=shift,
        orbit_radius=reach,
        orbit_angle=phase if action == "orbit" else 0.0,
        orbit_turns=1.0 if action == "orbit" else 0.0,
        pulse_amplitude=speed if action == "pulse" else 0.0,
        pulse_phase=phase if action == "pulse" else 0.0,
    )
    x0, y0 = path.centre(np.zeros(1))
    return ShapesFactors(
        shape=shape,
        color=color,
        background=background,
        action=action,
        size=size,
        speed=speed,
        phase=phase if action in ("orbit", "pulse") else 0.0,
        x0=float(x0[0]),
        y0=float(y0[0]),
        path=path,
    )


# Signed distance functions of unit shapes (bounding box [-1, 1]^2, y down), in units
# of the radius. x is (..., 1, W) and y is (..., H, 1); they broadcast to (..., H, W).
# Written once for numpy and torch float32 arrays: the operators, abs and the clip
# method are common to both; functions of two arrays come from _namespace.
Array = TypeVar("Array", np.ndarray, torch.Tensor)
UnitSDF = Callable[[Array, Array], Array]
_INV_SQRT2 = np.float32(1 / math.sqrt(2))
_SQRT5 = np.float32(math.sqrt(5))


def _namespace(a: np.ndarray | torch.Tensor) -> ModuleType:
    """The module whose functions take ``a``: ``torch`` or ``numpy``."""
    return torch if isinstance(a, torch.Tensor) else np


def _box(x: Array, y: Array, half_x: float, half_y: float) -> Array:
    xp = _namespace(x)
    dx = abs(x) - half_x
    dy = abs(y) - half_y
    outside = xp.sqrt(dx.clip(min=0) ** 2 + dy.clip(min=0) ** 2)
    return outside + xp.maximum(dx, dy).clip(max=0)


def _circle(x: Array, y: Array) -> Array:
    return _namespace(x).sqrt(x * x + y * y) - 1


def _square(x: Array, y: Array) -> Array:
    return _box(x, y, 0.85, 0.85)


def _convex(distance_sq: Array, plane: Array) -> Array:
    """Exact convex-polygon SDF from the squared distance to the nearest edge and the
    largest signed edge-line distance: inside, the two agree in size (no ``where``)."""
    return _namespace(plane).sqrt(distance_sq) + 2 * plane.clip(max=0)


def _diamond(x: Array, y: Array) -> Array:
    """Rhombus with vertices (+-1, 0), (0, +-1), folded into the first quadrant."""
    x, y = abs(x), abs(y)
    # Nearest point (1 - h, h) on the edge (1, 0) -> (0, 1).
    h = ((0.5 - x / 2) + y / 2).clip(0, 1)
    distance_sq = (x - 1 + h) ** 2 + (y - h) ** 2
    return _convex(distance_sq, (x * _INV_SQRT2 - _INV_SQRT2) + y * _INV_SQRT2)


def _cross(x: Array, y: Array) -> Array:
    """Union of two bars: exact outside, a bound inside near the inner corners."""
    return _namespace(x).minimum(_box(x, y, 1.0, 0.35), _box(x, y, 0.35, 1.0))


def _triangle(x: Array, y: Array) -> Array:
    """Isosceles triangle, apex (0, -1), base corners (+-1, 1); folded at x = 0."""
    xp = _namespace(x)
    x = abs(x)
    # Nearest point (h, 2 h - 1) on the right edge (0, -1) -> (1, 1), |edge|^2 = 5.
    h = (x / 5 + (y + 1) * 0.4).clip(0, 1)
    edge_sq = (x - h) ** 2 + (y + 1 - 2 * h) ** 2
    base_sq = (x - 1).clip(min=0) ** 2 + (y - 1) ** 2  # right half of the base
    plane = xp.maximum(x * (2 / _SQRT5) - (y + 1) / _SQRT5, y - 1)
    return _convex(xp.minimum(edge_sq, base_sq), plane)


_UNIT_SDFS: dict[str, UnitSDF] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "diamond": _diamond,
    "cross": _cross,
}


def _unit_coordinates(
    factors: ShapesFactors, resolution: int, frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel centres in the unit shape's frame, ``qx`` ``(T, W)`` and ``qy`` ``(T, H)``,
    and the radius ``(T,)`` in pixels, float32 (computed in float64)."""
    s = clip_times(frames)
    x, y = factors.path.centre(s)
    radius = (factors.size * factors.path.scale(s) * resolution)[:, None]  # (T, 1)
    pixels = np.arange(resolution) + 0.5
    qx = ((pixels - x[:, None] * resolution) / radius).astype(np.float32)
    qy = ((pixels - y[:, None] * resolution) / radius).astype(np.float32)
    return qx, qy, radius[:, 0].astype(np.float32)


def _coverage(sdf: Array, radius: Array) -> Array:
    """Anti-aliased coverage from a unit SDF and the radius in pixels."""
    return (0.5 - sdf * radius).clip(0, 1)


def coverage(factors: ShapesFactors, resolution: int, frames: int) -> np.ndarray:
    """Anti-aliased coverage ``clip(0.5 - sdf_px, 0, 1)``: ``(T, H, W)`` float32."""
    qx, qy, radius = _unit_coordinates(factors, resolution, frames)
    sdf = _UNIT_SDFS[factors.shape](qx[:, None, :], qy[:, :, None])
    return _coverage(sdf, radius[:, None, None])


def _displacement(
    factors: ShapesFactors, resolution: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """The object's motion in pixels from frame ``t`` to ``t + 1`` at each pixel
    column ``dx`` ``(T - 1, W)`` and row ``dy`` ``(T - 1, H)``, float32."""
    s = clip_times(frames)
    x, y = (c * resolution for c in factors.path.centre(s))  # (T,) pixels
    grow = (factors.path.scale(s[1:]) / factors.path.scale(s[:-1]) - 1)[:, None]
    pixels = np.arange(resolution) + 0.5
    dx = (x[1:] - x[:-1])[:, None] + (pixels - x[:-1, None]) * grow
    dy = (y[1:] - y[:-1])[:, None] + (pixels - y[:-1, None]) * grow
    return dx.astype(np.float32), dy.astype(np.float32)


def _masked_flow(dx: Array, dy: Array, alpha: Array) -> Array:
    """Flow ``(..., 2, T - 1, H, W)``: displacements ``dx`` ``(..., T - 1, W)`` and
    ``dy`` ``(..., T - 1, H)`` where the coverage ``alpha`` ``(..., T, H, W)`` of
    frame ``t`` is at least 0.5, zero elsewhere."""
    xp = _namespace(alpha)
    mask = alpha[..., :-1, :, :] >= 0.5
    shape = mask.shape
    displacement = xp.stack(
        [
            xp.broadcast_to(dx[..., None, :], shape),
            xp.broadcast_to(dy[..., None], shape),
        ],
        -4,
    )
    return displacement * mask[..., None, :, :, :]


def flow(factors: ShapesFactors, resolution: int, frames: int) -> np.ndarray:
    """Forward optical flow ``(2, T - 1, H, W)`` float32 in pixels (``dx``, ``dy``)
    from frame ``t`` to ``t + 1``: the object's similarity motion on pixels with
    coverage >= 0.5 in frame ``t``, zero on the background (module docstring)."""
    dx, dy = _displacement(factors, resolution, frames)
    return _masked_flow(dx, dy, coverage(factors, resolution, frames))


@lru_cache(maxsize=64)
def _background(name: str, resolution: int) -> np.ndarray:
    """Background ``name``, read-only ``(3, H, W)`` float32 in ``[0, 1]``."""
    if name not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {name!r}")
    if name == "gradient":
        top, bottom = (
            np.asarray(c)[:, None] for c in (_GRADIENT_TOP, _GRADIENT_BOTTOM)
        )
        y = (np.arange(resolution) + 0.5) / resolution
        column = top + (bottom - top) * y  # (3, H)
    else:
        column = np.full((3, resolution), 0.0 if name == "black" else 0.5)
    image = np.repeat(column[:, :, None], resolution, axis=2).astype(np.float32)
    image.flags.writeable = False
    return image


def background_image(name: str, resolution: int) -> np.ndarray:
    """Background ``name`` as an ``(H, W, 3)`` float32 image in ``[0, 1]``."""
    return np.ascontiguousarray(
        rearrange(_background(name, resolution), "c h w -> h w c")
    )


def _composite(alpha: Array, color: Array, background: Array) -> Array:
    """``color`` over ``background`` with opacity ``alpha`` (all broadcast)."""
    video = alpha * (color - background)
    video += background  # in place: one video-sized buffer
    return video


def _signed(video: Array) -> Array:
    """``video`` from ``[0, 1]`` to ``[-1, 1]``, in place (no torch threads for a
    numpy array)."""
    video *= 2
    video -= 1
    return video


def render_channels_first(
    factors: ShapesFactors, resolution: int, frames: int
) -> np.ndarray:
    """Render one video as a ``(3, T, H, W)`` float32 array in ``[0, 1]``."""
    alpha = coverage(factors, resolution, frames)[None]  # (1, T, H, W)
    background = _background(factors.background, resolution)[:, None]  # (3, 1, H, W)
    color = np.asarray(COLORS[factors.color], np.float32)[:, None, None, None]
    return _composite(alpha, color, background)


def render(factors: ShapesFactors, resolution: int, frames: int) -> np.ndarray:
    """Render one video as a ``(T, H, W, 3)`` float32 array in ``[0, 1]``."""
    video = render_channels_first(factors, resolution, frames)
    return np.ascontiguousarray(rearrange(video, "c t h w -> t h w c"))


def _stack_on(
    device: torch.device | str, per_video: Iterable[tuple[np.ndarray, ...]]
) -> tuple[torch.Tensor, ...]:
    """Each part of the per-video arrays stacked over the videos, on ``device``."""
    parts = zip(*per_video, strict=True)
    return tuple(torch.from_numpy(np.stack(part)).to(device) for part in parts)


def _coverage_batch(
    factors: Sequence[ShapesFactors],
    resolution: int,
    frames: int,
    device: torch.device | str,
) -> torch.Tensor:
    """:func:`coverage` of every video of ``factors`` on ``device``, ``(B, T, H, W)``:
    the per-frame coordinates come from numpy, each shape's SDF runs once on all the
    videos of that shape."""
    if not factors:
        raise ValueError("a batch needs at least one video, got none")
    per_video = (_unit_coordinates(f, resolution, frames) for f in factors)
    qx, qy, radius = _stack_on(device, per_video)  # (B, T, W), (B, T, H), (B, T)
    qx = rearrange(qx, "b t w -> b t 1 w")
    qy = rearrange(qy, "b t h -> b t h 1")
    sdf = qx.new_empty((len(factors), frames, resolution, resolution))
    for shape in dict.fromkeys(f.shape for f in factors):
        members = [b for b, f in enumerate(factors) if f.shape == shape]
        rows = torch.tensor(members, device=device)
        sdf[rows] = _UNIT_SDFS[shape](qx[rows], qy[rows])
    return _coverage(sdf, rearrange(radius, "b t -> b t 1 1"))


def _render_coverage(
    alpha: torch.Tensor, factors: Sequence[ShapesFactors], resolution: int
) -> torch.Tensor:
    """Each video's colour over its background with opacity ``alpha``
    ``(B, T, H, W)``: ``(B, 3, T, H, W)`` in ``[0, 1]`` on ``alpha``'s device."""
    device = alpha.device
    # Backgrounds are indexed on the device: one small table crosses, not B images.
    table = np.stack([_background(name, resolution) for name in BACKGROUNDS])
    rows = [BACKGROUNDS.index(f.background) for f in factors]
    background = torch.from_numpy(table).to(device)[torch.tensor(rows, device=device)]
    color = torch.tensor(
        [COLORS[f.color] for f in factors], dtype=torch.float32, device=device
    )
    return _composite(
        rearrange(alpha, "b t h w -> b 1 t h w"),
        rearrange(color, "b c -> b c 1 1 1"),
        rearrange(background, "b c h w -> b c 1 h w"),
    )


def render_batch(
    factors: Sequence[ShapesFactors],
    resolution: int,
    frames: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Render a batch of videos together on ``device`` (a GPU, or the CPU) as one
    ``(B, 3, T, H, W)`` float32 tensor in ``[0, 1]``; video ``b`` is
    ``render_channels_first(factors[b], resolution, frames)`` up to float32
    rounding."""
    alpha = _coverage_batch(factors, resolution, frames, device)
    return _render_coverage(alpha, factors, resolution)


class ShapesVideos(torch.utils.data.Dataset):
    """Shapes (``DATASET``): items ``{"video": (3, T, H, W), "index", **labels}``,
    the video in ``[-1, 1]``.

    Item ``index`` is drawn with ``np.random.default_rng([seed, split_id, index])``:
    a combination uniformly from those of ``split``, then the continuous factors.
    ``train`` and ``test`` exclude every combination that matches all keys of some
    ``holdout`` entry (e.g. ``{"shape": "circle", "action": "orbit"}``); ``heldout``
    draws only those. Holdout values are checked against the global names, so one
    holdout list serves configs with different subsets. ``with_flow`` adds the
    ground-truth ``item["flow"]`` ``(2, T - 1, H, W)`` (:func:`flow`).
    ``batch(indices, device)`` renders many items at once on a torch device.
    """

    def __init__(
        self,
        config: ShapesConfig = ShapesConfig(),  # noqa: B008
        size: int = 4096,
        seed: int = 0,
        split: str = "train",
        holdout: Sequence[Mapping[str, str]] = (),
        with_flow: bool = False,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.shapes_config = config
        self.combinations = combinations(config, holdout, split)
        self.holdout = _check_holdout(holdout)
        self.size = size
        self.seed = seed
        self.split = split
        self.config: dict = {
            "dataset": DATASET,
            **config.as_dict(),
            "size": size,
            "seed": seed,
            "split": split,
            "holdout": self.holdout,
        }
        self.with_flow = with_flow
        if with_flow:  # only then: configs (and hashes) without flow stay as they were
            self.config["with_flow"] = True

    def __len__(self) -> int:
        return self.size

    def factors(self, index: int) -> ShapesFactors:
        """All sampled factors and the path of item ``index``."""
        index = operator.index(index)
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for size {self.size}")
        rng = np.random.default_rng([self.seed, SPLITS[self.split], index])
        combination = self.combinations[rng.integers(len(self.combinations))]
        return sample_factors(self.shapes_config, combination, rng)

    def __getitem__(self, index: int) -> dict:
        index = operator.index(index)
        factors = self.factors(index)
        config = self.shapes_config
        video = _signed(
            render_channels_first(factors, config.resolution, config.frames)
        )
        item = {"video": torch.from_numpy(video), "index": index, **factors.labels()}
        if self.with_flow:
            item["flow"] = torch.from_numpy(
                flow(factors, config.resolution, config.frames)
            )
        return item

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> dict:
        """Items ``indices`` rendered together on ``device`` (:func:`render_batch`):
        what ``DataLoader``'s default collation makes of ``[self[i] for i in
        indices]``, every tensor on ``device``, the videos equal up to float32
        rounding."""
        indices = [operator.index(i) for i in indices]
        factors = [self.factors(i) for i in indices]
        resolution, frames = self.shapes_config.resolution, self.shapes_config.frames
        alpha = _coverage_batch(factors, resolution, frames, device)
        labels = torch.utils.data.default_collate(
            [{"index": i, **f.labels()} for i, f in zip(indices, factors, strict=True)]
        )
        batch = {
            "video": _signed(_render_coverage(alpha, factors, resolution)),
            **{key: value.to(device) for key, value in labels.items()},
        }
        if self.with_flow:
            per_video = (_displacement(f, resolution, frames) for f in factors)
            dx, dy = _stack_on(device, per_video)
            batch["flow"] = _masked_flow(dx, dy, alpha)
        return batch
