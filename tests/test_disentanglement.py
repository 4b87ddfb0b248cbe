"""code_effect on hand-built methods whose codes do and do not matter."""

from __future__ import annotations

import pytest
import torch

from vidlib.metrics.disentanglement import code_effect


class OnlyAppearance:
    """Videos are the appearance code broadcast over time; ``m`` is ignored."""

    nets: dict = {}
    opts: dict = {}

    def codes(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {"a": torch.rand(n, 3, generator=gen) * 2 - 1, "m": torch.randn(n, 2)}

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return codes["a"][:, :, None, None, None].expand(-1, 3, 4, 2, 2)


def test_ignored_code_has_no_effect_and_used_code_has_its_expected_effect() -> None:
    method = OnlyAppearance()
    assert code_effect(method, "m", n=64, seed=0) == 0
    # a, a' ~ U(-1, 1): E|a - a'| / 2 = (2/3) / 2 = 1/3
    assert code_effect(method, "a", n=4096, seed=0) == pytest.approx(1 / 3, abs=0.02)


def test_unknown_code_is_named() -> None:
    with pytest.raises(KeyError, match=r"code 'z' is not one of the method's codes"):
        code_effect(OnlyAppearance(), "z", n=2, seed=0)
