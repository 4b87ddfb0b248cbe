"""Judges: small classifiers trained in-project on Shapes, the book's evaluators.

``load_judges(config)`` trains, once per Shapes configuration, two small networks on
``ShapesVideos(config, split="train")`` and measures their accuracy on
``split="test"`` (different videos drawn from the same combinations):

- the **action judge** (``ActionJudge``), a conv net on the whole clip whose first
  layer spans all frames: which action of ``ACTIONS``;
- the **appearance judges** (``FrameJudge``), one 2-D conv net per judged appearance
  factor (``shape``, ``color``, ``background`` with more than one value in the
  config) on single frames; their logits are averaged over the frames of a clip.

The action and background judges see frames shrunk to at most ``ACTION_RESOLUTION``
pixels, the shape and colour judges to at most ``APPEARANCE_RESOLUTION`` (area
average), and the appearance judges look at most at ``APPEARANCE_FRAMES`` evenly spaced
frames, so 64×64×16 clips cost little more than 32×32×8 ones. Their penultimate
activations, averaged over space (and frames), concatenated, are the clip
``features`` for Fréchet and kernel distances; metrics computed with them are named
after ``Judges.protocol`` (``fd_judge_...``), never FID/FVD.

The weights and the test accuracy are cached atomically under
``<cache_dir>/<hash>/judges.pt`` (accuracy also in ``accuracy.json`` beside it), keyed
by a hash of the Shapes config, the seed, the training length and ``JUDGES_VERSION``.
Training is deterministic from ``seed`` on the CPU; every training clip is fresh (no
clip is seen twice), so train and test accuracy differ only by the judges' error.

Measured on the 2-core x86_64 CPU, 2026-11-23, while other jobs shared it (load
average 7-10), default steps, seed 0 (``_runs/judges/<hash>/accuracy.json``):

=====================================  =====  ==========================  ===========
config                                 steps  test accuracy (1024 clips)  train wall
                                                                          (CPU) s
=====================================  =====  ==========================  ===========
16×16×6, 2 shapes × 3 colours × 4      200    action 1.000, shape 0.984,  88 (11)
actions (mocogan smoke)                       colour 1.000
32×32×8, 3 shapes × 6 colours × 4      200    action, shape, colour       135 (21)
actions (mocogan cpu)                         1.000
64×64×16, everything (5 × 6 × 3 × 6)   400    action 0.996, shape,        312 (64)
                                              colour, background 1.000
=====================================  =====  ==========================  ===========

Judging 2048 clips of 64×64×16 (features and every prediction, ``Judges.judge``,
``benchmarks/judges_eval.py``): 41 s wall, 13.4 s CPU on one thread; 57 s wall,
18.6 s CPU on two (load average 7.4, one repeat each).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn
from tqdm.auto import tqdm

from vidlib.checkpoint import config_hash, save_checkpoint
from vidlib.data.shapes import ACTIONS, ShapesConfig, ShapesVideos, label_names

JUDGES_VERSION = 3
"""Bump when the networks or the training change: old caches are then ignored."""
APPEARANCE_RESOLUTION = 32
"""Frames larger than this are area-averaged down to it for shape and colour."""
ACTION_RESOLUTION = 16
"""... for the action and background judges (colour at 16 px: 98% at 64x64x16)."""
APPEARANCE_FRAMES = 8
"""The appearance judges look at most at this many evenly spaced frames of a clip."""
APPEARANCE_FACTORS: tuple[str, ...] = ("shape", "color", "background")
_CONFIG_FIELDS = {"shape": "shapes", "color": "colors", "background": "backgrounds"}
WEAK_ACCURACY = 0.9
"""``load_judges`` warns when a judge's test accuracy is below this."""
NEGATIVE_LOGIT = -1e4
"""Logit of the global classes that the config does not contain (never predicted)."""


@dataclass(frozen=True)
class JudgeTraining:
    """How the judges are trained; every field enters the cache hash."""

    steps: int
    batch_size: int = 32
    lr: float = 2e-3
    width: int = 16
    frames: int = 2  # frames per clip the appearance judge trains on
    test_size: int = 1024


def default_steps(config: ShapesConfig) -> int:
    """Training steps when ``load_judges(steps=None)``: 400 with orbit, pulse or more
    than three shapes (the harder classes), else 200 (see the measured accuracies)."""
    hard = {"orbit", "pulse"} & set(config.actions) or len(config.shapes) > 3
    return 400 if hard else 200


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run torch CPU ops on ``threads`` intra-op threads inside the block (None: as is).

    On the shared 2-core machine the judges trained (batch 32) 10-20 times slower with
    2 threads than with 1 while other jobs ran (spinning threads), so training and the
    latent probes use 1 thread; these nets are too small to gain much from a second
    thread on an idle machine.
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def judged_factors(config: ShapesConfig) -> tuple[str, ...]:
    """Appearance factors with more than one value in ``config`` (the judged ones)."""
    return tuple(
        f for f in APPEARANCE_FACTORS if len(getattr(config, _CONFIG_FIELDS[f])) > 1
    )


def _shrink(videos: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(B, C, T, H, W)`` -> spatial size at most ``resolution`` (area mean)."""
    t, h, w = videos.shape[2:]
    if max(h, w) <= resolution:
        return videos
    size = (t, min(h, resolution), min(w, resolution))
    return F.interpolate(videos, size=size, mode="area")


def _conv_body(channels: tuple[int, int, int, int]) -> nn.Sequential:
    """Three 3×3 conv + ReLU layers ``c0 -> c1 -> c2 -> c3``, 2×2 max-pool between."""
    c0, c1, c2, c3 = channels
    return nn.Sequential(
        nn.Conv2d(c0, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c2, c3, 3, padding=1),
        nn.ReLU(),
    )


class ActionJudge(nn.Module):
    """Conv net over the whole clip: ``(B, 3, T, H, W)`` -> features ``(B, 4w)``.

    The first layer is a 3-D convolution whose kernel spans all ``T`` frames (written
    as a 2-D convolution over the frames stacked as channels: on a CPU it is several
    times faster than small 3-D kernels), so every unit sees the whole trajectory of
    its 3×3 neighbourhood; two more 2-D conv layers and a spatial mean follow.
    """

    def __init__(self, n_classes: int, frames: int, width: int) -> None:
        super().__init__()
        w = width
        self.body = _conv_body((3 * frames, 2 * w, 4 * w, 4 * w))
        self.head = nn.Linear(4 * w, n_classes)

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        stacked = rearrange(
            _shrink(videos, ACTION_RESOLUTION), "b c t h w -> b (t c) h w"
        )
        return reduce(self.body(stacked), "b d h w -> b d", "mean")

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(videos))


class FrameJudge(nn.Module):
    """2-D conv net on every frame, logits averaged over the frames.

    ``(B, 3, T, H, W)`` -> features ``(B, 8w)`` (mean and max over space of the last
    conv layer, averaged over frames) and logits ``(B, n_classes)``. Each appearance
    factor gets its own net: with one shared trunk the easy colour head kept the
    shape head at chance for hundreds of steps.
    """

    def __init__(self, n_classes: int, width: int, resolution: int) -> None:
        super().__init__()
        w = width
        self.resolution = resolution
        self.body = _conv_body((3, w, 2 * w, 4 * w))
        self.head = nn.Linear(8 * w, n_classes)

    def frame_features(self, videos: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> ``(B, min(T, APPEARANCE_FRAMES), 8w)``."""
        b, t = videos.shape[0], videos.shape[2]
        if t > APPEARANCE_FRAMES:
            index = torch.linspace(0, t - 1, APPEARANCE_FRAMES).round().long()
            videos = videos[:, :, index.to(videos.device)]
        videos = _shrink(videos, self.resolution)
        maps = self.body(rearrange(videos, "b c t h w -> (b t) c h w"))
        pooled = torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        return rearrange(pooled, "(b t) d -> b t d", b=b)

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        return self.frame_features(videos).mean(dim=1)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_features(videos)).mean(dim=1)


def appearance_judges(config: ShapesConfig, width: int) -> nn.ModuleDict:
    """A ``FrameJudge`` per judged factor: shape gets ``width``, colour and background
    a quarter; background sees ``ACTION_RESOLUTION``, the others
    ``APPEARANCE_RESOLUTION``."""
    return nn.ModuleDict(
        {
            f: FrameJudge(
                len(getattr(config, _CONFIG_FIELDS[f])),
                width if f == "shape" else max(4, width // 4),
                ACTION_RESOLUTION if f == "background" else APPEARANCE_RESOLUTION,
            )
            for f in judged_factors(config)
        }
    )


def _global_index(key: str, values: tuple[str, ...]) -> torch.Tensor:
    """Global label index (into ``label_names(key)``) of each config value."""
    names = label_names(key)
    return torch.tensor([names.index(v) for v in values])


class Judges:
    """Trained action and appearance judges for one ``ShapesConfig``.

    ``accuracy`` holds the test accuracy (``split="test"``, ``training.test_size``
    clips) of ``"action"`` and of each factor in ``factors``. Labels are global indices
    into ``ACTIONS``, ``SHAPES``, ``COLORS``, ``BACKGROUNDS``; classes the config lacks
    get logit ``NEGATIVE_LOGIT``. Inputs are videos ``(B, 3, T, H, W)`` in [-1, 1] of
    the config's size, on any device; they are judged in batches without gradients.
    """

    batch_size = 256
    threads: int | None = None  # CPU threads while judging; None: torch's setting
    # (at batch 256 two runs of benchmarks/judges_eval.py under load 7-9 disagreed
    # on whether 1 or 2 threads is faster, unlike training at batch 32)

    def __init__(
        self,
        config: ShapesConfig,
        action: ActionJudge,
        appearance: nn.ModuleDict,
        *,
        accuracy: dict[str, float],
        key: str,
    ) -> None:
        self.config = config
        self.action = action.eval().requires_grad_(False)
        self.appearance = appearance.eval().requires_grad_(False)
        self.accuracy = accuracy
        self.key = key
        self.factors = judged_factors(config)
        self.protocol = f"judge_shapes{config.resolution}x{config.frames}_{key[:8]}"
        self._index = {"action": _global_index("action", config.actions)} | {
            f: _global_index(f, getattr(config, _CONFIG_FIELDS[f]))
            for f in self.factors
        }

    def _check(self, videos: torch.Tensor, frames: int | None = None) -> None:
        c = self.config
        expected = (3, frames or c.frames, c.resolution, c.resolution)
        if videos.ndim != 5 or tuple(videos.shape[1:]) != expected:
            raise ValueError(
                f"judges {self.protocol} take videos (B, "
                f"{', '.join(map(str, expected))}) (ShapesConfig resolution="
                f"{c.resolution}, frames={c.frames}), got {tuple(videos.shape)}"
            )

    @torch.no_grad()
    def _batched(self, videos: torch.Tensor, fn, frames: int | None = None) -> list:
        self._check(videos, frames)
        device = videos.device
        self.action.to(device)
        self.appearance.to(device)
        with cpu_threads(self.threads if device.type == "cpu" else None):
            return [fn(chunk.float()) for chunk in videos.split(self.batch_size)]

    def _to_global(self, key: str, local: torch.Tensor) -> torch.Tensor:
        n = len(label_names(key))
        out = local.new_full((local.shape[0], n), NEGATIVE_LOGIT)
        out[:, self._index[key].to(local.device)] = local
        return out

    def action_logits(self, videos: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> ``(B, len(ACTIONS))`` logits of the global actions."""
        parts = self._batched(videos, self.action)
        return self._to_global("action", torch.cat(parts))

    def appearance_logits(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, T, H, W)`` -> ``{factor: (B, n_global_values)}`` logits."""
        return {
            f: self._to_global(f, torch.cat(self._batched(videos, net)))
            for f, net in self.appearance.items()
        }

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        x = _shrink(x, APPEARANCE_RESOLUTION)  # once for all nets (some shrink further)
        action = self.action.features(x)
        features, logits = [action], {"action": self.action.head(action)}
        for f, net in self.appearance.items():
            per_frame = net.frame_features(x)
            features.append(per_frame.mean(dim=1))
            logits[f] = net.head(per_frame).mean(dim=1)
        return torch.cat(features, dim=1), logits

    def judge(
        self, videos: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One pass over every net: ``features (B, D)`` and global logits
        ``{"action": (B, len(ACTIONS)), factor: (B, n_global_values)}``."""
        parts = self._batched(videos, self._forward)
        features = torch.cat([p[0] for p in parts])
        logits = {
            key: self._to_global(key, torch.cat([p[1][key] for p in parts]))
            for key in parts[0][1]
        }
        return features, logits

    def predict(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"action": (B,), factor: (B,)}`` predicted global label indices."""
        return {k: v.argmax(dim=1) for k, v in self.judge(videos)[1].items()}

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> ``(B, D)`` clip features: the action judge's
        ``4 * width`` then each appearance judge's ``8 * its width``."""
        return self.judge(videos)[0]

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Single frames ``(N, 3, H, W)`` -> ``(N, D_frame)``: every appearance judge's
        per-frame features, concatenated (for frame-level metrics such as MCS/FCS)."""
        if frames.ndim != 4:
            raise ValueError(f"frame_features takes (N, 3, H, W), got {frames.shape}")
        if not self.factors:
            raise ValueError(
                f"judges {self.protocol} judge no appearance factor (each has one "
                "value in the config), so there are no frame features"
            )
        videos = rearrange(frames, "n c h w -> n c 1 h w")

        def per_frame(x: torch.Tensor) -> torch.Tensor:
            x = _shrink(x, APPEARANCE_RESOLUTION)
            parts = [net.frame_features(x)[:, 0] for net in self.appearance.values()]
            return torch.cat(parts, dim=1)

        return torch.cat(self._batched(videos, per_frame, frames=1))


def _labels(batch: dict, index: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Global labels of a batch -> positions among the config's values."""
    out = {}
    for key, values in index.items():
        lookup = torch.full((int(values.max()) + 1,), -1, dtype=torch.long)
        lookup[values] = torch.arange(len(values))
        out[key] = lookup[batch[key]]
    return out


def _batches(data: ShapesVideos, batch_size: int, count: int):
    """Consecutive batches of ``data`` (no shuffling: items are i.i.d. already)."""
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    return zip(range(count), loader, strict=False)


def train_judges(
    config: ShapesConfig,
    training: JudgeTraining,
    seed: int,
    key: str,
    progress: bool = True,
) -> Judges:
    """Train both judges on fresh train-split clips; measure test accuracy."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        action = ActionJudge(len(config.actions), config.frames, training.width)
        appearance = appearance_judges(config, training.width)
    index = Judges(config, action, appearance, accuracy={}, key=key)._index
    params = [*action.parameters(), *appearance.parameters()]
    opt = torch.optim.Adam(params, lr=training.lr)
    n = training.steps * training.batch_size
    data = ShapesVideos(config, size=n, seed=seed, split="train")
    action.train().requires_grad_(True)
    appearance.train().requires_grad_(True)
    bar = tqdm(
        _batches(data, training.batch_size, training.steps),
        total=training.steps,
        desc=f"judges {config.resolution}x{config.frames}",
        disable=not progress,
    )
    frames = torch.Generator().manual_seed(seed)
    for _, batch in bar:
        labels = _labels(batch, index)
        videos = _shrink(batch["video"], APPEARANCE_RESOLUTION)  # as in Judges._forward
        loss = F.cross_entropy(action(videos), labels["action"])
        some = torch.randint(config.frames, (training.frames,), generator=frames)
        for f, net in appearance.items():
            loss = loss + F.cross_entropy(net(videos[:, :, some]), labels[f])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    judges = Judges(config, action, appearance, accuracy={}, key=key)  # eval, frozen
    judges.accuracy = test_accuracy(judges, training.test_size, seed)
    return judges


@torch.no_grad()
def test_accuracy(judges: Judges, size: int, seed: int) -> dict[str, float]:
    """Fraction of ``size`` test-split clips whose every judged label is right."""
    data = ShapesVideos(judges.config, size=size, seed=seed, split="test")
    correct: dict[str, int] = {}
    for _, batch in _batches(data, judges.batch_size, len(data)):
        for key, predicted in judges.predict(batch["video"]).items():
            correct[key] = correct.get(key, 0) + int((predicted == batch[key]).sum())
    return {key: count / size for key, count in correct.items()}


def _write_json(path: Path, data: dict) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def _default_cache_dir() -> Path:
    from vidlib.results import ROOT

    return ROOT / "_runs" / "judges"


def load_judges(
    config: ShapesConfig,
    *,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    steps: int | None = None,
    progress: bool = True,
) -> Judges:
    """Judges for ``config``: loaded from the cache, or trained and cached first.

    The cache is ``<cache_dir>/<hash>/judges.pt`` (default cache_dir:
    ``<repo>/_runs/judges``) with ``accuracy.json`` beside it; the hash covers the
    config, ``seed``, the training settings and ``JUDGES_VERSION``. A cache file that
    cannot be read is reported with a warning naming it, and the judges are retrained.
    ``steps`` defaults to ``default_steps(config)``.
    """
    if not isinstance(config, ShapesConfig):
        raise TypeError(f"config must be a ShapesConfig, got {type(config).__name__}")
    if config.frames < 2 or len(config.actions) < 2:
        raise ValueError(
            "judges need clips (frames >= 2) and at least two actions to tell apart; "
            f"got frames={config.frames}, actions={config.actions}"
        )
    training = JudgeTraining(steps=steps or default_steps(config))
    record = {
        "version": JUDGES_VERSION,
        "shapes": config.as_dict(),
        "seed": seed,
        "training": training.__dict__,
    }
    key = config_hash(record)
    folder = Path(cache_dir or _default_cache_dir()) / key
    path = folder / "judges.pt"
    if path.exists():
        try:
            judges = _read(path, config, training, key)
        except Exception as error:  # noqa: BLE001 (any damage: retrain)
            warnings.warn(
                f"judges cache {path} cannot be used ({type(error).__name__}: "
                f"{error}); retraining the judges and overwriting it",
                stacklevel=2,
            )
        else:
            return _warn_if_weak(judges)
    wall, cpu = time.perf_counter(), time.process_time()
    with cpu_threads(1):
        judges = train_judges(config, training, seed, key, progress)
    seconds = {
        "train_wall_s": round(time.perf_counter() - wall, 1),
        "train_cpu_s": round(time.process_time() - cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }
    payload = {
        "nets": {
            "action": judges.action.state_dict(),
            "appearance": judges.appearance.state_dict(),
        },
        "accuracy": judges.accuracy,
        "config": record,
        "config_hash": key,
    }
    save_checkpoint(path, payload)
    _write_json(
        folder / "accuracy.json", {"accuracy": judges.accuracy, **seconds, **record}
    )
    return _warn_if_weak(judges)


def _warn_if_weak(judges: Judges) -> Judges:
    weak = {k: v for k, v in judges.accuracy.items() if v < WEAK_ACCURACY}
    if weak:
        warnings.warn(
            f"judges {judges.protocol} have test accuracy below {WEAK_ACCURACY}: "
            f"{weak}; train longer (load_judges(steps=...)) before trusting them",
            stacklevel=3,
        )
    return judges


def _read(
    path: Path, config: ShapesConfig, training: JudgeTraining, key: str
) -> Judges:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("config_hash") != key:
        raise ValueError(f"it was written for config hash {payload.get('config_hash')}")
    action = ActionJudge(len(config.actions), config.frames, training.width)
    appearance = appearance_judges(config, training.width)
    action.load_state_dict(payload["nets"]["action"])
    appearance.load_state_dict(payload["nets"]["appearance"])
    accuracy = {k: float(v) for k, v in payload["accuracy"].items()}
    return Judges(config, action, appearance, accuracy=accuracy, key=key)


__all__ = ["ACTIONS", "Judges", "judged_factors", "load_judges"]
