"""Fréchet and kernel distances against closed forms and scipy."""

import numpy as np
import pytest
import scipy.linalg
import torch

from vidlib.metrics.frechet import (
    GaussianStats,
    frechet_distance,
    frechet_distance_from_stats,
    frechet_stats,
    kernel_distance,
    mmd2_unbiased,
    sqrtm_psd,
)


def scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-fid / G3AN fid.py: np.cov, scipy.linalg.sqrtm(S1 @ S2).real."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(
        ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    )


@pytest.mark.parametrize("method", ["eigh", "newton_schulz"])
def test_closed_form_isotropic_gaussians(method):
    d, a, b = 16, 0.5, 2.0
    mu_a, mu_b = (
        torch.zeros(d, dtype=torch.float64),
        torch.full((d,), 0.3, dtype=torch.float64),
    )
    eye = torch.eye(d, dtype=torch.float64)
    stats_a, stats_b = (
        GaussianStats(mu_a, a**2 * eye, 100),
        GaussianStats(mu_b, b**2 * eye, 100),
    )
    expected = d * 0.3**2 + d * (a - b) ** 2
    assert frechet_distance_from_stats(stats_a, stats_b, method) == pytest.approx(
        expected, rel=1e-9
    )


@pytest.mark.parametrize("method", ["eigh", "newton_schulz"])
def test_closed_form_commuting_diagonal_covariances(method):
    var_a = torch.tensor([1.0, 4.0, 0.25, 9.0], dtype=torch.float64)
    var_b = torch.tensor([4.0, 1.0, 1.0, 0.0], dtype=torch.float64)  # rank-deficient
    zero = torch.zeros(4, dtype=torch.float64)
    got = frechet_distance_from_stats(
        GaussianStats(zero, torch.diag(var_a), 10),
        GaussianStats(zero, torch.diag(var_b), 10),
        method,
    )
    assert got == pytest.approx(
        ((var_a.sqrt() - var_b.sqrt()) ** 2).sum().item(), abs=1e-8
    )


def test_against_scipy_on_random_features():
    gen = np.random.default_rng(0)
    x = gen.normal(size=(400, 24))
    y = gen.normal(size=(300, 24)) @ gen.normal(size=(24, 24)) * 0.5 + 0.2
    expected = scipy_frechet(x, y)
    for method in ("eigh", "newton_schulz"):
        assert frechet_distance(x, y, method) == pytest.approx(expected, rel=1e-7)


def test_stats_match_numpy():
    x = np.random.default_rng(1).normal(size=(50, 7))
    stats = frechet_stats(x)
    np.testing.assert_allclose(stats.mu.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.sigma.numpy(), np.cov(x, rowvar=False), rtol=1e-12)


def test_zero_for_identical_sets_and_symmetric():
    x = torch.randn(200, 10, generator=torch.Generator().manual_seed(2))
    y = x[:100] * 1.5
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)


def test_rank_deficient_warns_and_methods_agree():
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(20, 64, generator=gen), torch.randn(30, 64, generator=gen) + 0.1
    with pytest.warns(UserWarning, match="rank-deficient") as caught:
        eig = frechet_distance(x, y, "eigh")
    assert any("feats_b has N=30" in str(w.message) for w in caught)
    with pytest.warns(UserWarning):
        ns = frechet_distance(x, y, "newton_schulz")
    assert eig == pytest.approx(ns, rel=1e-6)


def test_sqrtm_squares_back():
    m = torch.randn(
        12, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    psd = m @ m.T  # rank 5 of 12
    for method in ("eigh", "newton_schulz"):
        root = sqrtm_psd(psd, method)
        torch.testing.assert_close(root @ root, psd, atol=1e-8, rtol=1e-8)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="feats_a must be"):
        frechet_distance(torch.randn(10), torch.randn(10, 2))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 2))
    with pytest.raises(ValueError, match="sqrtm method"):
        sqrtm_psd(torch.eye(2, dtype=torch.float64), "schur")
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((4, 2), float("nan")), torch.randn(4, 2))


def test_mmd_against_hand_computation():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)

    def k(u, v):
        return (float(u @ v) / 2 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(3) for j in range(3) if i != j) / 6
    yy = sum(k(y[i], y[j]) for i in range(2) for j in range(2) if i != j) / 2
    xy = sum(k(x[i], y[j]) for i in range(3) for j in range(2)) / 6
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kernel_distance_near_zero_for_same_distribution():
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen)
    same = kernel_distance(x, y, subsets=20, subset_size=200)
    shifted = kernel_distance(x, y + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.05 < shifted
