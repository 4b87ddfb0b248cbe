"""Identity × action cells of Shapes: the action-exchange data of NAVS (Table 3).

Weizmann has 9 people × 10 actions, one video per cell; the paper trains on some cells
and generates the others. :class:`CellVideos` is that layout on Shapes: an identity is
an appearance ``(shape, color, background)``, the columns are ``ShapesConfig.actions``,
and :func:`action_exchange_split` splits the cells into training and held-out ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlib.data.shapes import (
    ACTIONS,
    DATASET,
    Combination,
    ShapesConfig,
    label_names,
    render_channels_first,
    sample_factors,
)

Identity = tuple[str, str, str]  # (shape, color, background): one appearance
Cell = tuple[int, int]  # (identity row, action row)


class CellVideos(Dataset):
    """One video per (identity, action) cell, like Weizmann's 9 people × 10 actions.

    Identities are appearance combinations; an identity keeps its size, speed and
    position draws for every action (one seeded draw per identity), so two cells of
    one identity differ only by the action. Items carry ``identity`` and
    ``action_row`` (indices into ``identities`` and ``actions``) for NAVS's tables,
    plus the global Shapes labels for the judges.
    """

    def __init__(
        self,
        config: ShapesConfig,
        identities: Sequence[Identity],
        actions: Sequence[str],
        cells: Sequence[Cell],
        seed: int = 0,
    ) -> None:
        self.shapes_config = config
        self.identities = [tuple(i) for i in identities]
        self.actions = list(actions)
        self.cells = [tuple(c) for c in cells]
        self.seed = seed
        self.config: dict[str, Any] = {
            "dataset": f"{DATASET}-cells",
            **config.as_dict(),
            "identities": [list(i) for i in self.identities],
            "cell_actions": list(self.actions),
            "cells": [list(c) for c in self.cells],
            "seed": seed,
        }

    def __len__(self) -> int:
        return len(self.cells)

    def __getitem__(self, index: int) -> dict:
        identity, action_row = self.cells[index]
        combination: Combination = (
            *self.identities[identity],
            self.actions[action_row],
        )
        rng = _identity_rng(self.seed, identity)
        factors = sample_factors(self.shapes_config, combination, rng)
        config = self.shapes_config
        video = render_channels_first(factors, config.resolution, config.frames)
        return {
            "video": torch.from_numpy(video * 2 - 1),
            "index": index,
            "identity": identity,
            "action_row": action_row,
            **factors.labels(),
        }


def _identity_rng(seed: int, identity: int) -> np.random.Generator:
    return np.random.default_rng([seed, 7, identity])


def training_cells(
    identities: Sequence[Identity], actions: Sequence[str], heldout: Sequence[Cell]
) -> list[Cell]:
    """The cells of the ``identities × actions`` table not in ``heldout``, checked.

    Every identity and every action must keep at least one training video, else its
    latent could not be learned: that is refused with the offending rows named, as
    are unknown names, repeated rows and held-out pairs outside the table.
    """
    identities = [tuple(i) for i in identities]
    for name, values, allowed in (
        ("actions", actions, ACTIONS),
        ("identities shape", [i[0] for i in identities], label_names("shape")),
        ("identities color", [i[1] for i in identities], label_names("color")),
        (
            "identities background",
            [i[2] for i in identities],
            label_names("background"),
        ),
    ):
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"{name}: unknown {unknown}; allowed {allowed}")
    if len(set(identities)) != len(identities) or len(set(actions)) != len(actions):
        raise ValueError("identities and actions must be distinct")
    all_cells = [(i, a) for i in range(len(identities)) for a in range(len(actions))]
    heldout = {tuple(c) for c in heldout}
    bad = sorted(c for c in heldout if c not in all_cells)
    if bad:
        raise ValueError(
            f"heldout cells {bad} are not (identity, action) pairs of a "
            f"{len(identities)}×{len(actions)} table"
        )
    train = [c for c in all_cells if c not in heldout]
    lonely_identities = sorted(set(range(len(identities))) - {i for i, _ in train})
    lonely_actions = sorted(set(range(len(actions))) - {a for _, a in train})
    if lonely_identities or lonely_actions:
        parts = []
        if lonely_identities:
            parts.append(f"identities {[identities[i] for i in lonely_identities]}")
        if lonely_actions:
            parts.append(f"actions {[actions[a] for a in lonely_actions]}")
        raise ValueError(
            f"heldout leaves no training video for {'; '.join(parts)}: their latents"
            " could not be learned. Keep one cell of each row and column in training."
        )
    return train


def action_exchange_split(
    config: ShapesConfig,
    identities: Sequence[Identity],
    actions: Sequence[str],
    heldout: Sequence[Cell],
    seed: int = 0,
) -> tuple[CellVideos, CellVideos]:
    """Training cells and held-out cells of an identity × action table (Table 3);
    ``heldout`` lists ``(identity, action)`` index pairs (checked by
    :func:`training_cells`)."""
    train = training_cells(identities, actions, heldout)
    held = sorted({tuple(c) for c in heldout})
    return (
        CellVideos(config, identities, actions, train, seed),
        CellVideos(config, identities, actions, held, seed),
    )
