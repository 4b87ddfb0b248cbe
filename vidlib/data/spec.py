"""The ``data`` section of an experiment record, and the dataset it opens.

:class:`DataConfig` is :class:`~vidlib.data.shapes.ShapesConfig` (the Shapes factors,
clip length and resolution) plus what picks and sizes the dataset. ``dataset`` is

* ``"shapes"``: ``size`` embedded Shapes videos, rendered on the fly;
* ``"shapes-cells"``: one Shapes video per (identity, action) cell
  (:mod:`vidlib.data.cells`, NAVS's action exchange). ``options`` holds
  ``identities`` (a list of ``[shape, color, background]``, the table's rows; its
  columns are ``actions``) and ``heldout`` (``[identity, action]`` row pairs): split
  ``"train"`` is the other cells, split ``"test"`` the held-out ones; ``size`` is
  not used;
* any name of :func:`vidlib.data.datasets.open_dataset`, read from the local folder
  ``root`` with ``options`` passed on.

Every dataset also takes the option ``image_fraction`` (in (0, 1)): its training
split becomes a mixture of images and videos
(:class:`~vidlib.data.mixed.MixedImagesVideos`; residual-vectors paper, Sec. 5.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from torch.utils.data import Dataset

from vidlib.data.cells import action_exchange_split, training_cells
from vidlib.data.mixed import MixedImagesVideos
from vidlib.data.shapes import (
    DATASET,
    FACTORS,
    ShapesConfig,
    ShapesVideos,
    label_names,
)
from vidlib.hints import did_you_mean

#: datasets rendered here (no ``root``)
EMBEDDED: tuple[str, ...] = ("shapes", "shapes-cells")
#: ``options`` of ``shapes-cells`` (``heldout`` may be left out: no held-out cell)
CELL_OPTIONS: tuple[str, ...] = ("identities", "heldout")
#: the option of every dataset that mixes images into its training split
MIXED_OPTION = "image_fraction"


def data_version(config: DataConfig) -> str:
    """How the videos of ``config`` are made: the Shapes drawing's version
    (``vidlib.data.shapes.DATASET``) for the embedded datasets, else the dataset's
    name (its files are the user's)."""
    return DATASET if config.dataset in EMBEDDED else config.dataset


@dataclass(frozen=True)
class DataConfig(ShapesConfig):
    """Shapes factors, clip size, and the dataset to open (defaults: the papers'
    64×64×16 clips of every Shapes factor)."""

    dataset: str = "shapes"  # "shapes", "shapes-cells" or a name of open_dataset
    root: str = ""  # folder of a real dataset (not for the embedded ones)
    size: int = 4096  # Shapes training videos
    options: dict[str, Any] = field(default_factory=dict)  # see the module docstring

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dataset not in EMBEDDED:
            from vidlib.data.datasets import RECIPES  # PyAV only for real data

            if self.dataset not in RECIPES:
                names = (*EMBEDDED, *RECIPES)
                raise ValueError(
                    f"data.dataset: unknown dataset {self.dataset!r}; "
                    f"{did_you_mean(self.dataset, names)}expected one of "
                    f"{', '.join(names)}"
                )
        if self.dataset not in EMBEDDED and not self.root:
            raise ValueError(
                f"data.root: dataset {self.dataset!r} is read from a local folder;"
                " give its path as data.root"
            )
        if self.size < 1:
            raise ValueError(f"data.size must be >= 1, got {self.size}")
        if MIXED_OPTION in self.options:
            fraction = self.options[MIXED_OPTION]
            if isinstance(fraction, bool) or not isinstance(fraction, int | float):
                raise ValueError(
                    f"data.options.{MIXED_OPTION}: expected a number in (0, 1), got"
                    f" {fraction!r}"
                )
            if not 0 < fraction < 1:
                raise ValueError(
                    f"data.options.{MIXED_OPTION}: the share of training items that"
                    f" are images must be in (0, 1), got {fraction}"
                )
        own = sorted(set(self.options) - {MIXED_OPTION})
        if self.dataset == "shapes" and own:
            raise ValueError(
                f"data.options: dataset 'shapes' takes only {MIXED_OPTION}, got"
                f" {own} (identities/heldout belong to dataset: shapes-cells)"
            )
        if self.dataset == "shapes-cells":
            self.cells()  # refuses a bad table now, not when the data is opened

    def cells(self) -> tuple[list[tuple[str, str, str]], list[tuple[int, int]]]:
        """``shapes-cells``: the identities and the held-out cells of ``options``,
        checked (unknown option, malformed row, a row or column left untrained)."""
        unknown = sorted(set(self.options) - {*CELL_OPTIONS, MIXED_OPTION})
        if unknown or "identities" not in self.options:
            raise ValueError(
                f"data.options of dataset 'shapes-cells' takes identities (required)"
                f" and heldout; got {sorted(self.options)}"
            )
        identities = [
            _row(i, 3, str, "identities", "[shape, color, background]")
            for i in self.options["identities"]
        ]
        heldout = [
            _row(c, 2, int, "heldout", "[identity row, action row]")
            for c in self.options.get("heldout", [])
        ]
        try:
            training_cells(identities, self.actions, heldout)
        except ValueError as e:
            raise ValueError(f"data.options: {e}") from None
        return identities, heldout

    @property
    def shapes_config(self) -> ShapesConfig:
        """The Shapes part alone."""
        names = [f.name for f in fields(ShapesConfig)]
        return ShapesConfig(**{name: getattr(self, name) for name in names})


def _row(value: Any, length: int, kind: type, option: str, form: str) -> tuple:
    if (
        not isinstance(value, list | tuple)
        or len(value) != length
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"data.options.{option}: each entry is {form}, got {value!r}")
    return tuple(value)


def open_data(config: DataConfig, split: str = "train", seed: int = 0) -> Dataset:
    """The dataset of ``config``: Shapes videos, Shapes cells, or a real dataset from
    ``root``; its training split mixed with images when ``options`` has
    ``image_fraction``."""
    dataset = _open_videos(config, split, seed)
    fraction = config.options.get(MIXED_OPTION)
    if fraction is not None and split == "train":
        return MixedImagesVideos(dataset, fraction, seed)
    return dataset


def _open_videos(config: DataConfig, split: str, seed: int) -> Dataset:
    if config.dataset == "shapes":
        return ShapesVideos(
            config.shapes_config, size=config.size, seed=seed, split=split
        )
    if config.dataset == "shapes-cells":
        if split not in ("train", "test"):
            raise ValueError(
                f"dataset 'shapes-cells' has splits 'train' (training cells) and"
                f" 'test' (held-out cells), not {split!r}"
            )
        identities, heldout = config.cells()
        train, test = action_exchange_split(
            config.shapes_config, identities, config.actions, heldout, seed
        )
        return train if split == "train" else test
    from vidlib.data.datasets import open_dataset  # PyAV only for real data

    options = {k: v for k, v in config.options.items() if k != MIXED_OPTION}
    return open_dataset(
        config.dataset,
        config.root,
        frames=config.frames,
        resolution=config.resolution,
        split=split,
        seed=seed,
        **options,
    )


#: the latent-table key of one row for the whole dataset (NAVS on Chair-CAD and Golf:
#: one static latent for the training set); the model's ``WHOLE_DATASET`` is the same
WHOLE_DATASET = "dataset"


def table_rows(config: DataConfig, key: str) -> int:
    """How many values the item key ``key`` of the training data of ``config`` takes:
    the rows of a latent table indexed by it (``index``: one per training video;
    a Shapes label: every value of its global list; ``dataset``: 1, one row for the
    whole dataset, on any dataset)."""
    sizes: dict[str, int] = {WHOLE_DATASET: 1}
    if config.dataset in EMBEDDED:
        sizes |= {f: len(label_names(f)) for f in FACTORS}
    if config.dataset == "shapes":
        sizes["index"] = config.size
    elif config.dataset == "shapes-cells":
        identities, heldout = config.cells()
        train = training_cells(identities, config.actions, heldout)
        sizes |= {
            "index": len(train),
            "identity": len(identities),
            "action_row": len(config.actions),
        }
    if key not in sizes and config.dataset in EMBEDDED:
        raise ValueError(
            f"the items of dataset {config.dataset!r} have no key {key!r}; a latent"
            f" table can be indexed by one of {', '.join(sizes)}"
        )
    if key not in sizes:
        raise ValueError(
            f"the number of values of item key {key!r} of dataset"
            f" {config.dataset!r} is not known before opening it (known:"
            f" {', '.join(sizes)}); give the table size explicitly"
        )
    return sizes[key]
