"""Reference generators for the disentanglement scores: Shapes rendered from codes.

``ShapesOracle`` is a ``Method`` without networks. Its appearance code ``z_a`` picks
the shape, colour and background, its motion code ``z_m`` the action and the action's
continuous variation, and ``generate`` renders the clip with the Shapes renderer, so
the true factors of every generated video are known (``ShapesOracle.factors``).

Each categorical factor is the argmax of a logit vector. With ``entanglement`` ``e``
the logits of a factor mix its own code segment with a fixed random projection of the
*other* code, ``sqrt(1 - e) · own + sqrt(e) · other @ Q`` (columns of ``Q`` have unit
norm, so both terms have unit variance): ``e = 0`` is perfectly disentangled, ``e = 1``
hands the action to the appearance code and the appearance to the motion code.

=============  ===========================================  ====================
code           entries                                      decides
=============  ===========================================  ====================
``z_a``        one logit per shape, colour, background      shape, colour,
               of the config (``N(0, 1)``)                  background
``z_m``        one logit per action, then ``variation``     action; start, speed,
               entries                                      phase, size
=============  ===========================================  ====================

The continuous factors are drawn by ``sample_factors`` from a generator seeded with the
bits of ``z_m``'s variation entries: a deterministic function of the motion code. That
includes the object's size, which Shapes lists as intra-class variation of the shape
(the judges do not judge it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from vidlib.data.shapes import (
    ShapesConfig,
    ShapesFactors,
    render_channels_first,
    sample_factors,
)

_SEGMENTS = ("shapes", "colors", "backgrounds")  # ShapesConfig fields, z_a order


class ShapesOracle:
    """Method whose ``generate`` renders Shapes from codes (see the module docstring).

    ``codes(n)``: ``z_a (n, n_shapes + n_colors + n_backgrounds)`` and ``z_m (n,
    n_actions + variation)``, standard normal. ``generate``: ``(n, 3, T, H, W)`` in
    [-1, 1] at the config's resolution and length.
    """

    appearance_code = "z_a"
    motion_code = "z_m"
    nets: dict = {}
    opts: dict = {}

    def __init__(
        self,
        config: ShapesConfig,
        entanglement: float = 0.0,
        seed: int = 0,
        variation: int = 4,
    ) -> None:
        if not 0.0 <= entanglement <= 1.0:
            raise ValueError(f"entanglement must be in [0, 1], got {entanglement!r}")
        if variation < 1:
            raise ValueError(f"variation must be >= 1, got {variation}")
        self.shapes = config
        self.entanglement = entanglement
        self.variation = variation
        self.config: dict[str, Any] = {
            "model": "shapes-oracle",
            "entanglement": entanglement,
            "seed": seed,
            "variation": variation,
            "shapes": config.as_dict(),
        }
        self.dim_a = sum(len(getattr(config, f)) for f in _SEGMENTS)
        self.dim_m = len(config.actions) + variation
        gen = torch.Generator().manual_seed(seed)

        def projection(rows: int, cols: int) -> torch.Tensor:
            q = torch.randn(rows, cols, generator=gen)
            return q / q.norm(dim=0, keepdim=True)

        self.mix = {
            f: projection(self.dim_m, len(getattr(config, f))) for f in _SEGMENTS
        }
        self.mix["actions"] = projection(self.dim_a, len(config.actions))

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"z_a": (n, dim_a), "z_m": (n, dim_m)}``, standard normal."""
        return {
            "z_a": torch.randn(n, self.dim_a, generator=gen),
            "z_m": torch.randn(n, self.dim_m, generator=gen),
        }

    def _choose(self, field: str, own: torch.Tensor, other: torch.Tensor) -> list[str]:
        e = self.entanglement
        logits = math.sqrt(1 - e) * own + math.sqrt(e) * other @ self.mix[field]
        values = getattr(self.shapes, field)
        return [values[i] for i in logits.argmax(dim=1).tolist()]

    def factors(self, codes: dict[str, torch.Tensor]) -> list[ShapesFactors]:
        """The Shapes factors that ``generate(codes)`` renders, one per video."""
        z_a = codes["z_a"].detach().float().cpu()
        z_m = codes["z_m"].detach().float().cpu()
        chosen, start = {}, 0
        for field in _SEGMENTS:
            stop = start + len(getattr(self.shapes, field))
            chosen[field] = self._choose(field, z_a[:, start:stop], z_m)
            start = stop
        n_actions = len(self.shapes.actions)
        chosen["actions"] = self._choose("actions", z_m[:, :n_actions], z_a)
        bits = z_m[:, n_actions:].numpy().astype(np.float32).view(np.uint32)
        return [
            sample_factors(
                self.shapes,
                tuple(chosen[f][i] for f in (*_SEGMENTS, "actions")),
                np.random.default_rng(bits[i].tolist()),
            )
            for i in range(len(z_a))
        ]

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Render ``factors(codes)``: ``(n, 3, T, H, W)`` in [-1, 1]."""
        c = self.shapes
        videos = np.stack(
            [
                render_channels_first(f, c.resolution, c.frames)
                for f in self.factors(codes)
            ]
        )
        return torch.from_numpy(videos * 2 - 1).to(codes["z_a"].device)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """An oracle has nothing to learn."""
        raise TypeError("ShapesOracle renders from its codes and is never trained")
