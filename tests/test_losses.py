"""GAN losses against their written equations on toy logits."""

from __future__ import annotations

import math

import pytest
import torch

from vidlib.losses import discriminator_loss, generator_loss


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


REAL, FAKE = [2.0, -0.5, 0.3], [-1.0, 0.7]


def test_bce_discriminator_loss_is_the_minimax_objective() -> None:
    expected = -sum(math.log(sigmoid(x)) for x in REAL) / len(REAL) - sum(
        math.log(1 - sigmoid(x)) for x in FAKE
    ) / len(FAKE)
    got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), "bce")
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_bce_generator_loss_is_non_saturating() -> None:
    expected = -sum(math.log(sigmoid(x)) for x in FAKE) / len(FAKE)
    assert generator_loss(torch.tensor(FAKE), "bce").item() == pytest.approx(
        expected, rel=1e-6
    )


def test_hinge_losses() -> None:
    expected_d = sum(max(0, 1 - x) for x in REAL) / len(REAL) + sum(
        max(0, 1 + x) for x in FAKE
    ) / len(FAKE)
    got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), "hinge")
    assert got.item() == pytest.approx(expected_d, rel=1e-6)
    assert generator_loss(torch.tensor(FAKE), "hinge").item() == pytest.approx(0.15)


def test_bce_is_stable_for_large_logits() -> None:
    loss = discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4]), "bce")
    assert loss.item() == 0.0


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown GAN loss 'wgan'; expected one of"):
        generator_loss(torch.zeros(2), "wgan")  # type: ignore[arg-type]
