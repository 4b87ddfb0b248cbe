"""The ``data`` section of an experiment record, and the dataset it opens.

:class:`DataConfig` is :class:`~vidlib.data.shapes.ShapesConfig` (the Shapes factors,
clip length and resolution) plus what picks and sizes the dataset: ``dataset`` is
``"shapes"`` (embedded, rendered on the fly) or a name of
:func:`vidlib.data.datasets.open_dataset` read from the local folder ``root``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from torch.utils.data import Dataset

from vidlib.data.shapes import ShapesConfig, ShapesVideos


@dataclass(frozen=True)
class DataConfig(ShapesConfig):
    """Shapes factors, clip size, and the dataset to open (defaults: the papers'
    64×64×16 clips of every Shapes factor)."""

    dataset: str = "shapes"  # "shapes" or a name of vidlib.data.datasets.RECIPES
    root: str = ""  # folder of a real dataset (dataset != "shapes")
    size: int = 4096  # Shapes training videos
    options: dict[str, Any] = field(default_factory=dict)  # open_dataset options

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dataset != "shapes" and not self.root:
            raise ValueError(
                f"data.root: dataset {self.dataset!r} is read from a local folder;"
                " give its path as data.root"
            )
        if self.size < 1:
            raise ValueError(f"data.size must be >= 1, got {self.size}")

    @property
    def shapes_config(self) -> ShapesConfig:
        """The Shapes part alone."""
        names = [f.name for f in fields(ShapesConfig)]
        return ShapesConfig(**{name: getattr(self, name) for name in names})


def open_data(config: DataConfig, split: str = "train", seed: int = 0) -> Dataset:
    """The dataset of ``config``: Shapes videos, or a real dataset from ``root``."""
    if config.dataset == "shapes":
        return ShapesVideos(
            config.shapes_config, size=config.size, seed=seed, split=split
        )
    from vidlib.data.datasets import open_dataset  # PyAV only for real data

    return open_dataset(
        config.dataset,
        config.root,
        frames=config.frames,
        resolution=config.resolution,
        split=split,
        seed=seed,
        **config.options,
    )
