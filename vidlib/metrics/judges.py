"""Judges: small classifiers trained in-project on Shapes, the book's evaluators.

Two kinds of network judge a Shapes clip:

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

This module holds the networks and :class:`Judges` (inference). Training, the test
accuracy and the cache are :func:`vidlib.judging.load_judges`.

``benchmarks/judges_eval.py`` times ``Judges.judge`` (features and every prediction)
on 64×64×16 clips per thread count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn
from torch.utils.data import Dataset

from vidlib.data.shapes import ACTIONS, ShapesConfig, label_names

APPEARANCE_RESOLUTION = 32
"""Frames larger than this are area-averaged down to it for shape and colour."""
ACTION_RESOLUTION = 16
"""... for the action and background judges (colour at 16 px: 98% at 64x64x16)."""
APPEARANCE_FRAMES = 8
"""The appearance judges look at most at this many evenly spaced frames of a clip."""
APPEARANCE_FACTORS: tuple[str, ...] = ("shape", "color", "background")
_CONFIG_FIELDS = {"shape": "shapes", "color": "colors", "background": "backgrounds"}
NEGATIVE_LOGIT = -1e4
"""Logit of the global classes that the config does not contain (never predicted)."""


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


def shrink(videos: torch.Tensor, resolution: int) -> torch.Tensor:
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
            shrink(videos, ACTION_RESOLUTION), "b c t h w -> b (t c) h w"
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
        videos = shrink(videos, self.resolution)
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


def judge_nets(config: ShapesConfig, width: int) -> nn.ModuleDict:
    """Untrained judges of ``config``: ``"action"`` (an ``ActionJudge``) and
    ``"appearance"`` (:func:`appearance_judges`)."""
    return nn.ModuleDict(
        {
            "action": ActionJudge(len(config.actions), config.frames, width),
            "appearance": appearance_judges(config, width),
        }
    )


def label_index(config: ShapesConfig) -> dict[str, torch.Tensor]:
    """Global label index (into ``label_names(key)``) of each value ``config`` has,
    for ``"action"`` and each judged factor."""
    values = {"action": config.actions} | {
        f: getattr(config, _CONFIG_FIELDS[f]) for f in judged_factors(config)
    }
    return {
        key: torch.tensor([label_names(key).index(v) for v in vals])
        for key, vals in values.items()
    }


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
        self._index = label_index(config)

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
        x = shrink(x, APPEARANCE_RESOLUTION)  # once for all nets (some shrink further)
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

    def shares(self, videos: torch.Tensor) -> dict[str, dict[str, float]]:
        """Per judged key (the action and each judged factor), the fraction of
        ``videos`` predicted as each value the config has."""
        predicted, index = self.predict(videos), label_index(self.config)
        return {
            key: {
                label_names(key)[i]: (predicted[key] == i).float().mean().item()
                for i in index[key].tolist()
            }
            for key in predicted
        }

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
            x = shrink(x, APPEARANCE_RESOLUTION)
            parts = [net.frame_features(x)[:, 0] for net in self.appearance.values()]
            return torch.cat(parts, dim=1)

        return torch.cat(self._batched(videos, per_frame, frames=1))


def judge_accuracy(
    judges: Judges, videos: torch.Tensor, data: Dataset
) -> dict[str, float]:
    """Per label (the action and each judged factor): the fraction of ``videos`` whose
    judged label equals the label of the item of ``data`` at the same position."""
    predicted = judges.predict(videos)
    keys = ["action", *judges.factors]
    items = [data[i] for i in range(len(data))]
    truth = {key: torch.tensor([item[key] for item in items]) for key in keys}
    return {
        key: (predicted[key].cpu() == truth[key]).float().mean().item() for key in keys
    }


__all__ = [
    "ACTIONS",
    "Judges",
    "judge_accuracy",
    "judge_nets",
    "judged_factors",
    "label_index",
]
