"""``conditional_accuracy`` on a hand-made conditional method and fake judges: the
judged action is read back from the clip, so the expected share is known exactly."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from vidlib.experiment import CONDITIONAL_SEED, conditional_scores
from vidlib.metrics.conditional import category_swap_scores, conditional_accuracy


class Conditional:
    """Clips whose every pixel is the asked category, or ``wrong_for`` when the asked
    category is that one; records the nets' mode at ``generate``."""

    def __init__(self, wrong_for: int | None = None) -> None:
        self.nets = {"G": torch.nn.BatchNorm1d(1)}
        self.opts: dict = {}
        self.wrong_for = wrong_for
        self.training_at_generate: bool | None = None

    def codes(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {
            "z": torch.randn(n, 2, generator=gen),
            "category": torch.randint(6, (n,), generator=gen),
        }

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        self.training_at_generate = self.nets["G"].training
        shown = codes["category"].clone()
        if self.wrong_for is not None:
            shown[shown == self.wrong_for] = 5
        return shown.float()[:, None, None, None, None].expand(-1, 3, 2, 4, 4)


class Judges:
    protocol = "fake"

    def predict(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"action": videos[:, 0, 0, 0, 0].round().long()}


def test_a_method_that_shows_the_asked_category_scores_one() -> None:
    method = Conditional()
    entry = conditional_accuracy(method, Judges(), [0, 2, 3], n=64, seed=0)
    assert entry["value"] == 1.0
    assert entry["chance"] == pytest.approx(1 / 3)
    assert entry["better"] == "higher" and entry["n"] == 64
    assert method.training_at_generate is False  # generated in eval mode
    assert method.nets["G"].training  # and restored


def test_misses_are_counted_and_codes_follow_the_seed() -> None:
    method = Conditional(wrong_for=2)
    entry = conditional_accuracy(method, Judges(), [0, 2], n=400, seed=1)
    codes = method.codes(400, torch.Generator().manual_seed(1))
    asked = torch.tensor([0, 2])[codes["category"] % 2]
    assert entry["value"] == pytest.approx((asked == 0).float().mean().item())
    assert 0.4 < entry["value"] < 0.6


def test_a_method_without_a_category_code_is_refused() -> None:
    class Unconditional(Conditional):
        def codes(self, n, gen):
            return {"z": torch.randn(n, 2, generator=gen)}

    with pytest.raises(ValueError, match="Unconditional.codes\\(\\) has no 'category'"):
        conditional_accuracy(Unconditional(), Judges(), [0], n=4, seed=0)


def test_the_category_code_can_have_another_name() -> None:
    class NamedZA(Conditional):  # MoCoGAN's categorical code is "z_A"
        def codes(self, n, gen):
            codes = super().codes(n, gen)
            return {"z": codes["z"], "z_A": codes["category"]}

        def generate(self, codes):
            return super().generate({"category": codes["z_A"]})

    entry = conditional_accuracy(NamedZA(), Judges(), [1, 3], 32, 0, category_key="z_A")
    assert entry["value"] == 1.0
    with pytest.raises(ValueError, match="has no 'category'"):
        conditional_accuracy(NamedZA(), Judges(), [1, 3], n=32, seed=0)


class FactorJudges(Judges):
    """Judges the action from the pixels and a shape from the clip's sign."""

    factors = ("shape",)

    def predict(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        return {**super().predict(videos), "shape": (videos[:, 1, 1, 0, 0] > 0).long()}


class Keeper(Conditional):
    """Frame 1 of channel 1 carries z's sign: the judged shape follows z alone."""

    category_code = "category"

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        videos = super().generate(codes).clone()
        videos[:, 1, 1] = codes["z"][:, :1, None]
        return videos


def test_a_runs_conditional_scores_are_the_two_metrics_on_the_datas_actions() -> None:
    """``vidlib.experiment.conditional_scores``: the categories are the data's actions
    as indices into ACTIONS, each score drawn with its own seed offset; a Method
    without a category code gets both entries unavailable."""
    record = SimpleNamespace(data=SimpleNamespace(actions=("right", "up", "down")))
    got = conditional_scores(Keeper(), record, FactorJudges(), 48, 5)
    accuracy = conditional_accuracy(
        Keeper(), FactorJudges(), [0, 2, 3], 48, 5 + CONDITIONAL_SEED
    )
    swap = category_swap_scores(
        Keeper(), FactorJudges(), [0, 2, 3], 48, 5 + CONDITIONAL_SEED + 1
    )
    assert got == {
        "action_accuracy_fake": accuracy,
        "category_swap_appearance_kept_fake": swap,
    }
    assert accuracy["value"] == 1.0 and swap["value"] == 1.0
    assert swap["categories"] == "0 2 3"
    plain = conditional_scores(Conditional(), record, FactorJudges(), 8, 0)
    assert set(plain) == set(got)
    for entry in plain.values():
        assert entry["value"] is None and entry["protocol"]
        assert "Conditional is not conditional" in entry["unavailable"]
