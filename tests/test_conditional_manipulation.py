"""The manipulation scores of ``vidlib.metrics.conditional`` (G3AN Figs. 7, 8, 11) on a
hand-made method and fake judges: each clip shows its labels in known pixels, so every
score can be computed by hand."""

from __future__ import annotations

import pytest
import torch

from vidlib.metrics.conditional import (
    appearance_addition_scores,
    category_swap_scores,
    motion_variety_scores,
)


class Fake:
    """Pixels ``[0, 0, :, 0, j]`` of a clip: the action (j=0), shape (1), colour (2)
    and a motion value (3). ``rule`` maps the codes to those four numbers."""

    appearance_code = "a"
    motion_code = "m"

    def __init__(self, rule, category_key: str = "category") -> None:
        self.nets = {"G": torch.nn.BatchNorm1d(1)}
        self.opts: dict = {}
        self.rule = rule
        self.category_key = category_key
        self.training_at_generate: bool | None = None

    def codes(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {
            "a": torch.randn(n, 2, generator=gen),
            "m": torch.randn(n, 3, 2, generator=gen),  # a sequence code (n, d, T)
            self.category_key: torch.randint(4, (n,), generator=gen),
        }

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        self.training_at_generate = self.nets["G"].training
        values = self.rule(codes["a"], codes["m"], codes[self.category_key])
        video = torch.zeros(len(codes["a"]), 3, 2, 4, 4)
        video[:, 0, :, 0, :4] = torch.stack(values, dim=1).float()[:, None]
        return video


class Judges:
    protocol = "fake"
    factors = ("shape", "color")

    def judge(self, videos: torch.Tensor):
        pixels = videos[:, 0, 0, 0, :4]
        labels = pixels[:, :3].round().long()
        logits = {
            name: torch.nn.functional.one_hot(labels[:, i], 8).float()
            for i, name in enumerate(["action", "shape", "color"])
        }
        return pixels[:, 3:4], logits  # features: the motion value

    def predict(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.argmax(dim=1) for k, v in self.judge(videos)[1].items()}


def shape_of(a):
    return (a[:, 0] > 0).long()


def color_of(a):
    return (a[:, 1] > 0).long() + 2


def motion_of(m):
    return m[:, 0, 0]


def kept_appearance(a, m, c):
    return c, shape_of(a), color_of(a), motion_of(m)


def test_category_swap_appearance_kept_scores_one() -> None:
    method = Fake(kept_appearance)
    entry = category_swap_scores(method, Judges(), [0, 1, 2, 3], n=64, seed=0)
    assert entry["value"] == pytest.approx(1.0)
    assert entry["all_kept_shape"] == entry["all_kept_color"] == 1.0
    assert entry["better"] == "higher" and entry["n"] == 64
    assert "shape, color" in entry["protocol"]
    assert method.training_at_generate is False and method.nets["G"].training


def test_category_swap_a_category_that_sets_the_shape_is_caught() -> None:
    def leaky(a, m, c):  # the shape flips with the category, the colour stays
        return c, (shape_of(a) + c) % 2, color_of(a), motion_of(m)

    entry = category_swap_scores(Fake(leaky), Judges(), [0, 1], n=64, seed=0)
    # every draw shows both shapes: agreement 0, chance 1/2, kappa (0 - 1/2) / (1/2)
    assert entry["kappa_shape"] == pytest.approx(-1.0)
    assert entry["agreement_shape"] == 0.0 and entry["all_kept_shape"] == 0.0
    assert entry["kappa_color"] == pytest.approx(1.0)
    assert entry["value"] == pytest.approx(0.0)
    assert entry["values_seen_shape"] == 2 and entry["values_seen_color"] == 2


def test_category_swap_reads_the_named_category_code() -> None:
    method = Fake(kept_appearance, category_key="z_A")
    assert category_swap_scores(method, Judges(), [0, 3], 8, 0, "z_A")["value"] == 1.0
    with pytest.raises(ValueError, match="no 'category' code"):
        category_swap_scores(method, Judges(), [0, 3], n=8, seed=0)


def expected_spread(seed: int, groups: int, per_group: int) -> float:
    """The motion spread by hand: the codes drawn as the function draws them."""
    fake = Fake(kept_appearance)
    gen = torch.Generator().manual_seed(seed)
    fake.codes(groups, gen)
    motions = fake.codes(groups * per_group, gen)["m"]
    values = motion_of(motions).view(groups, per_group)
    total = 0.0
    for row in values:
        diffs = (row[:, None] - row[None, :]).abs()
        total += diffs.sum().item() / (per_group * (per_group - 1))
    return total / groups


def test_motion_variety_known_spread_and_category_kept() -> None:
    def wrong_for_two(a, m, c):
        return torch.where(c == 2, 0, c), shape_of(a), color_of(a), motion_of(m)

    scores = motion_variety_scores(
        Fake(wrong_for_two), Judges(), [0, 1, 2, 3], groups=8, per_group=5, seed=3
    )
    kept, spread = scores["category_kept"], scores["motion_spread"]
    assert kept["value"] == pytest.approx(6 / 8)  # groups cycle 0,1,2,3: two of 8 miss
    assert kept["chance"] == 0.25
    assert spread["value"] == pytest.approx(expected_spread(3, 8, 5), rel=1e-6)
    # the features see only the motion, so redrawing the appearance changes nothing
    assert spread["reference"] == pytest.approx(spread["value"], rel=1e-6)
    assert spread["ratio"] == pytest.approx(1.0)


def test_motion_variety_a_motion_code_that_does_nothing_has_no_spread() -> None:
    def frozen(a, m, c):
        return c, shape_of(a), color_of(a), a[:, 0]

    scores = motion_variety_scores(Fake(frozen), Judges(), [1], 4, 3, seed=0)
    assert scores["motion_spread"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert scores["motion_spread"]["reference"] > 0
    assert scores["category_kept"]["value"] == 1.0


def test_appearance_addition_motion_alone_decides_the_action() -> None:
    def by_motion(a, m, c):
        return (m[:, 0, 0] > 0).long(), shape_of(a), color_of(a), motion_of(m)

    entry = appearance_addition_scores(Fake(by_motion), Judges(), n=200, seed=5)
    gen = torch.Generator().manual_seed(5)
    fake = Fake(by_motion)
    m0, m1 = fake.codes(200, gen)["m"], fake.codes(200, gen)["m"]
    same_sign = ((m0[:, 0, 0] > 0) == (m1[:, 0, 0] > 0)).float().mean().item()
    assert entry["value"] == 1.0 and entry["other_appearance"] == 1.0
    assert entry["other_motion"] == pytest.approx(same_sign)
    assert entry["better"] == "higher" and entry["n"] == 200


def test_appearance_addition_an_appearance_that_sets_the_action_is_caught() -> None:
    def by_appearance(a, m, c):
        return (a[:, 0] > 0).long(), shape_of(a), color_of(a), motion_of(m)

    entry = appearance_addition_scores(Fake(by_appearance), Judges(), n=200, seed=5)
    gen = torch.Generator().manual_seed(5)
    fake = Fake(by_appearance)
    a0, a1 = fake.codes(200, gen)["a"][:, 0], fake.codes(200, gen)["a"][:, 0]
    assert entry["value"] == pytest.approx(((a0 + a1 > 0) == (a0 > 0)).float().mean())
    assert entry["other_appearance"] == pytest.approx(
        ((a1 > 0) == (a0 > 0)).float().mean()
    )
    assert entry["other_motion"] == 1.0
