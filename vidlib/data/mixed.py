"""Mixed image/video training data (residual-vectors paper, Sec. 5.1, "Pre-Training
and Training on Mixed Datasets": half of the MUG videos broken up into frames).

:class:`MixedImagesVideos` wraps any dataset of the book's items: item ``index`` is,
with probability ``image_fraction``, one random frame of the wrapped item as an image
(a video with ``T == 1``), else the video itself; both choices are a pure function of
``(seed, index)``. (The paper splits by video and keeps every frame of the broken-up
half; a coin per item gives the same 1:1 mixture in expectation.) Images and videos
do not stack into one tensor, so batch them with :func:`collate_mixed`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset, default_collate


class MixedImagesVideos(Dataset):
    """Items of ``dataset``, a fraction of them reduced to one frame (``T == 1``);
    ``item["is_image"]`` is 1 for those, ``item["frame"]`` the frame taken (-1 for
    videos)."""

    def __init__(self, dataset: Dataset, image_fraction: float = 0.5, seed: int = 0):
        if not 0 <= image_fraction <= 1:
            raise ValueError(f"image_fraction must be in [0, 1], got {image_fraction}")
        self.dataset, self.image_fraction, self.seed = dataset, image_fraction, seed
        inner = getattr(dataset, "config", {})
        self.config = inner | {
            "mixed": {"image_fraction": image_fraction, "seed": seed}
        }

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        rng = np.random.default_rng([self.seed, index, 1])
        is_image = bool(rng.random() < self.image_fraction)
        frame = int(rng.integers(item["video"].shape[1])) if is_image else -1
        if is_image:
            item["video"] = item["video"][:, frame : frame + 1]
            item.pop("flow", None)  # an image has no motion
        return item | {"is_image": int(is_image), "frame": frame}


def collate_mixed(items: Sequence[dict]) -> dict[str, dict | None]:
    """``{"videos": batch of the video items, "images": batch of the image items}``,
    each :func:`torch.utils.data.default_collate`-d (``None`` when there are none);
    image batches have ``video`` of shape ``(B, C, 1, H, W)``."""
    videos = [item for item in items if not item["is_image"]]
    images = [item for item in items if item["is_image"]]
    return {
        "videos": default_collate(videos) if videos else None,
        "images": default_collate(images) if images else None,
    }
