"""The residual-vectors paper's image Inception Score (Sec. 5.2, Table 5), on Shapes.

The paper trains "a classifier having the same architecture as the Image
Discriminator D_I in MoCoGAN and RJGAN" to classify facial expressions "from
individual, randomly chosen, frames of a video", and reports the Inception Score
(Salimans et al. 2016) of its softmax on generated images as the mean over 10 batches
of 128, ± the spread over those batches.

Here the frame labels are Shapes' per-frame factors: the **joint class** of every
appearance factor that varies in the config (``shape × color × background``, those
with more than one value; :func:`frame_classes`). The action is a property of a clip,
not of a frame, and is left out. The classifier (:class:`FrameClassifierNet`) is D_I,
:class:`vidlib.nn.PatchImageDiscriminator`, with its last conv giving one logit per
class instead of one real/fake logit, averaged over its patches: the same layers,
widths, kernels and strides, only the number of output channels of the head differs.
Training, its test accuracy and its cache are :func:`vidlib.frame_classifier.
load_frame_classifier`.

:func:`is_frame_classifier` is that score, named so it is never taken for the
Inception network's IS: the first ``batches × batch_size`` images, cut into
``batches`` consecutive batches, each batch's IS from :func:`vidlib.metrics.inception.
inception_score`, mean and std (ddof=0; the paper does not say which) over batches.
With K classes, 1 <= IS <= K.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from vidlib.data.shapes import ShapesConfig, label_names
from vidlib.metrics.inception import inception_score
from vidlib.metrics.judges import judged_factors, label_index
from vidlib.nn import PatchImageDiscriminator

BATCHES, BATCH_SIZE = 10, 128
"""The paper's protocol: the mean over 10 batches of 128 images."""
MIN_RESOLUTION = 16
"""D_I's four stride-2 convs leave at least one patch from 16 pixels up."""


def _factor_values(config: ShapesConfig) -> dict[str, torch.Tensor]:
    """Global label indices of each varying appearance factor's values."""
    index = label_index(config)
    return {factor: index[factor] for factor in judged_factors(config)}


def frame_classes(config: ShapesConfig) -> list[tuple[str, ...]]:
    """The joint classes of the varying appearance factors of ``config``, in
    ``itertools.product`` order (e.g. ``("circle", "red")``)."""
    values = [
        [label_names(factor)[i] for i in index.tolist()]
        for factor, index in _factor_values(config).items()
    ]
    return list(itertools.product(*values))


def frame_labels(labels: dict[str, torch.Tensor], config: ShapesConfig) -> torch.Tensor:
    """Global item labels (``{"shape": (B,), ...}``, as Shapes items and batches
    hold them) -> ``(B,)`` indices into :func:`frame_classes`."""
    joint = torch.zeros((), dtype=torch.long)
    for factor, values in _factor_values(config).items():
        lookup = torch.full((len(label_names(factor)),), -1, dtype=torch.long)
        lookup[values] = torch.arange(len(values))
        local = lookup[torch.as_tensor(labels[factor])]
        if (local < 0).any():
            raise ValueError(f"a {factor} label outside the config's values")
        joint = joint * len(values) + local
    return joint


class FrameClassifierNet(nn.Module):
    """D_I with ``classes`` logits per patch: images ``(N, C, H, W)`` in [-1, 1]
    -> logits ``(N, classes)``, the mean over patches."""

    def __init__(self, classes: int, channels: int = 3, ndf: int = 64) -> None:
        super().__init__()
        self.d_i = PatchImageDiscriminator(channels, ndf, logits=classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.d_i(images).mean(dim=(2, 3))


class FrameClassifier:
    """A trained :class:`FrameClassifierNet` for one ``ShapesConfig``: its
    ``classes``, test ``accuracy`` and cache ``key``; images are classified in
    batches, without gradients, in eval mode (BatchNorm's running statistics)."""

    batch_size = 256

    def __init__(
        self,
        config: ShapesConfig,
        net: FrameClassifierNet,
        *,
        accuracy: dict[str, float],
        key: str,
    ) -> None:
        self.config = config
        self.net = net.eval().requires_grad_(False)
        self.classes = frame_classes(config)
        self.accuracy = accuracy
        self.key = key
        self.protocol = f"frame_classifier_shapes{config.resolution}_{key[:8]}"

    def _check(self, images: torch.Tensor) -> None:
        res = self.config.resolution
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, res, res):
            raise ValueError(
                f"frame classifier {self.protocol} takes images (N, 3, {res}, {res}) "
                f"in [-1, 1] (ShapesConfig resolution={res}), got "
                f"{tuple(images.shape)}"
            )

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, len(classes))``."""
        self._check(images)
        self.net.to(images.device)
        return torch.cat([self.net(x.float()) for x in images.split(self.batch_size)])

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, len(classes))`` float64 softmax, on the CPU."""
        return self.logits(images).double().softmax(dim=1).cpu()

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N,)`` indices into ``classes``."""
        return self.logits(images).argmax(dim=1).cpu()


def is_frame_classifier(
    images: torch.Tensor,
    classifier: FrameClassifier,
    *,
    batches: int = BATCHES,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """The paper's image IS of ``images`` ``(N, 3, H, W)`` in [-1, 1] (from any
    generator: summary frames G_I(mu), frames of videos, real frames): ``{"value",
    "mean", "std", "batches", "batch_size", "classes", "protocol", "better"}``
    (``value`` = ``mean``). Uses the first ``batches × batch_size`` images."""
    need = batches * batch_size
    if batches < 2 or batch_size < 1 or images.shape[0] < need:
        raise ValueError(
            f"is_frame_classifier takes {batches} batches of {batch_size} = {need} "
            f"images (batches >= 2), got {images.shape[0]}"
        )
    mean, std = inception_score(classifier.probs(images[:need]), splits=batches)
    factors = " x ".join(judged_factors(classifier.config))
    protocol = (
        "residual-vectors image IS (Sec. 5.2): exp(E KL(p(y|x)||p(y))) of "
        f"{classifier.protocol} softmax over {len(classifier.classes)} frame classes "
        f"({factors}), a classifier of D_I's architecture; mean and std (ddof=0) over "
        f"{batches} batches of {batch_size}; not the Inception network's IS"
    )
    return {
        "value": mean,
        "mean": mean,
        "std": std,
        "batches": batches,
        "batch_size": batch_size,
        "classes": len(classifier.classes),
        "protocol": protocol,
        "better": "higher",
    }
