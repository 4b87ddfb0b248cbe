"""GAN losses against their written equations on toy logits; the category head loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidlib.losses import (
    category_loss,
    discriminator_loss,
    generator_loss,
    laplacian_l1,
    lazy_r1_weight,
    r1_penalty,
    triplet_loss,
)


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


def test_minimax_generator_loss_is_the_saturating_log_one_minus_d() -> None:
    """G minimises E[log(1 − σ(D(G(z))))] (Eq. 1); D's loss is the bce one."""
    expected = sum(math.log(1 - sigmoid(x)) for x in FAKE) / len(FAKE)
    got = generator_loss(torch.tensor(FAKE), "minimax")
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert got.item() == pytest.approx(-0.7082, abs=1e-4)  # (log σ(1) + log σ(−0.7))/2
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    assert discriminator_loss(real, fake, "minimax") == discriminator_loss(
        real, fake, "bce"
    )
    saturated = generator_loss(torch.tensor([-1e4]), "minimax")
    assert saturated.item() == 0.0  # log(1 − 0): no gradient left, as Eq. 1 has


def test_hinge_losses() -> None:
    expected_d = sum(max(0, 1 - x) for x in REAL) / len(REAL) + sum(
        max(0, 1 + x) for x in FAKE
    ) / len(FAKE)
    got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), "hinge")
    assert got.item() == pytest.approx(expected_d, rel=1e-6)
    assert generator_loss(torch.tensor(FAKE), "hinge").item() == pytest.approx(0.15)


def test_wgan_losses_are_the_critic_objective() -> None:
    """D: E[D(G(z))] − E[D(x)]; G: −E[D(G(z))] (Arjovsky et al. 2017, Eq. 3)."""
    expected_d = sum(FAKE) / len(FAKE) - sum(REAL) / len(REAL)  # −0.15 − 0.6
    got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), "wgan")
    assert got.item() == pytest.approx(expected_d, rel=1e-6)
    assert got.item() == pytest.approx(-0.75, rel=1e-6)
    assert generator_loss(torch.tensor(FAKE), "wgan").item() == pytest.approx(0.15)


def test_bce_is_stable_for_large_logits() -> None:
    loss = discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4]), "bce")
    assert loss.item() == 0.0


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown GAN loss 'lsgan'; expected one of"):
        generator_loss(torch.zeros(2), "lsgan")  # type: ignore[arg-type]


def _blur_numpy(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Reflect-padded 2-D correlation of one (H, W) image, written out with loops."""
    pad = kernel.shape[0] // 2
    padded = np.pad(image, pad, mode="reflect")
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            window = padded[i : i + kernel.shape[0], j : j + kernel.shape[1]]
            out[i, j] = (window * kernel).sum()
    return out


def test_laplacian_l1_matches_a_direct_computation() -> None:
    size, sigma, levels = 5, 2.0, 2
    x = np.exp(-((np.arange(size) - 2.0) ** 2) / (2 * sigma**2))
    kernel = np.outer(x, x) / np.outer(x, x).sum()
    gen = torch.Generator().manual_seed(0)
    fake = torch.rand(2, 3, 2, 16, 16, generator=gen, dtype=torch.float64) * 2 - 1
    real = torch.rand(2, 3, 2, 16, 16, generator=gen, dtype=torch.float64) * 2 - 1
    total = 0.0
    for b in range(2):
        for c in range(3):
            for t in range(2):
                g_fake, g_real = fake[b, c, t].numpy(), real[b, c, t].numpy()
                for level in range(levels + 1):
                    if level == levels:  # low-pass residual
                        band_fake, band_real = g_fake, g_real
                    else:
                        blur_fake = _blur_numpy(g_fake, kernel)
                        blur_real = _blur_numpy(g_real, kernel)
                        band_fake, band_real = g_fake - blur_fake, g_real - blur_real
                    total += 2 ** (2 * level) * np.abs(band_fake - band_real).sum()
                    if level < levels:
                        g_fake = blur_fake.reshape(8 >> level, 2, -1, 2).mean((1, 3))
                        g_real = blur_real.reshape(8 >> level, 2, -1, 2).mean((1, 3))
    expected = total / fake.numel()
    got = laplacian_l1(fake, real, levels=levels, size=size, sigma=sigma)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert laplacian_l1(real, real, levels=levels).item() == 0


def test_laplacian_l1_refuses_too_many_levels_and_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="pyramid levels"):
        laplacian_l1(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), levels=4)
    with pytest.raises(ValueError, match="shapes differ"):
        laplacian_l1(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 16, 16))


def test_triplet_loss_is_its_formula() -> None:
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    n = torch.tensor([[0.0, 3.0], [1.5, 1.0]])
    margin = 2.0
    # max(|a-p|^2 + margin - |a-n|^2, 0): max(1 + 2 - 9, 0) = 0; max(0 + 2 - .25, 0)
    expected = (0.0 + 1.75) / 2
    assert triplet_loss(a, p, n, margin).item() == pytest.approx(expected)


def test_category_loss_reads_the_head_after_the_gan_logit() -> None:
    logits = torch.tensor([[5.0, 2.0, 0.0, -1.0], [-3.0, 0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 1])
    expected = F.cross_entropy(logits[:, 1:], labels)
    torch.testing.assert_close(category_loss(logits, labels, 3), expected)
    assert category_loss(logits, None, 3) == 0  # no labels in the batch
    assert category_loss(logits, labels, 0) == 0  # unconditional


def test_r1_penalty_is_the_mean_squared_input_gradient() -> None:
    # D(x) = Σ w·x² per sample: ∇_x D = 2·w·x, so ||∇D||² = Σ 4·w²·x²
    x = torch.randn(3, 2, 4, requires_grad=True)
    w = torch.randn(2, 4)
    logits = (w * x.square()).sum(dim=(1, 2))
    expected = (4 * w.square() * x.detach().square()).sum(dim=(1, 2)).mean()
    penalty = r1_penalty(logits, x)
    assert torch.allclose(penalty, expected)
    penalty.backward()  # the graph is kept: the penalty trains D
    assert x.grad is not None


def test_lazy_r1_weight_is_gamma_half_times_the_interval_on_its_steps() -> None:
    assert [lazy_r1_weight(0.1, 4, step) for step in range(5)] == [
        0.2,
        0.0,
        0.0,
        0.0,
        0.2,
    ]
    assert lazy_r1_weight(0.0, 4, 0) == 0.0  # off
