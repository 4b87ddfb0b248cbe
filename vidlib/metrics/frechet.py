"""Fréchet distance and kernel (KID-style) distance between two sets of features.

``frechet_distance`` fits a Gaussian to each set (mean, covariance with ``ddof=1`` as
pytorch-fid and G3AN's ``fid.py``) and returns the squared Fréchet (2-Wasserstein)
distance between them, in float64:

    d² = ‖μ_a − μ_b‖² + Tr Σ_a + Tr Σ_b − 2 Tr (Σ_a^½ Σ_b Σ_a^½)^½

``Tr(Σ_a^½ Σ_b Σ_a^½)^½`` equals ``Tr (Σ_a Σ_b)^½`` (the two matrices are similar) and
is computed with the symmetric form of TF-GAN (the original FVD code). Two ways of
taking the matrix square roots are implemented and cross-checked by
``trace_sqrt_product``: ``"eigh"`` (eigen-decomposition, negative round-off
eigenvalues clipped to 0) and ``"newton_schulz"`` (the coupled Newton–Schulz
iteration, only matrix products). Rank-deficient covariances (fewer samples than
feature dimensions, or constant features) are handled by both; ``frechet_stats``
reports that case because the distance is then strongly biased.

``kernel_distance`` is the unbiased MMD² with the cubic polynomial kernel
``k(x, y) = (xᵀy / d + 1)³`` of KID (Bińkowski et al. 2018), averaged over random
subsets.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

SQRTM_METHODS = ("eigh", "newton_schulz")


def _as_float64(feats: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    x = torch.as_tensor(feats).detach().to("cpu", torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be (N >= 2, D) features, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``(D,)`` and covariance ``(D, D)`` (ddof=1) of ``n`` feature vectors."""

    mu: torch.Tensor
    sigma: torch.Tensor
    n: int

    @property
    def rank_deficient(self) -> bool:
        """True when ``n <= D``: the covariance cannot have full rank."""
        return self.n <= self.mu.shape[0]


def frechet_stats(
    feats: torch.Tensor | np.ndarray, name: str = "feats"
) -> GaussianStats:
    """Float64 mean and covariance (``ddof=1``) of ``(N, D)`` features."""
    x = _as_float64(feats, name)
    return GaussianStats(
        x.mean(0),
        torch.cov(x.T, correction=1).reshape(x.shape[1], x.shape[1]),
        x.shape[0],
    )


def sqrtm_psd(
    matrix: torch.Tensor, method: str = "eigh", iters: int = 100
) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite ``(D, D)`` matrix.

    ``"eigh"``: V diag(√max(λ, 0)) Vᵀ. ``"newton_schulz"``: the coupled iteration
    Y ← Y(3I − ZY)/2, Z ← (3I − ZY)Z/2 from Y₀ = A/‖A‖_F, Z₀ = I (Higham 2008,
    Eq. 6.35), which converges to (A/‖A‖_F)^½ for PSD A; rescaled by √‖A‖_F. For a
    singular A, Z grows along the null space and round-off eventually makes the
    iteration diverge, so it stops at the smallest residual ‖Y² − A/‖A‖_F‖_F.
    """
    a = (matrix + matrix.T) / 2
    if method == "eigh":
        eigval, eigvec = torch.linalg.eigh(a)
        return (eigvec * eigval.clamp(min=0).sqrt()) @ eigvec.T
    if method == "newton_schulz":
        norm = torch.linalg.matrix_norm(a)
        if norm == 0:
            return torch.zeros_like(a)
        eye = torch.eye(a.shape[0], dtype=a.dtype)
        y, z = a / norm, eye
        best, best_residual = y, torch.linalg.matrix_norm(y @ y - a / norm)
        for _ in range(iters):
            t = (3 * eye - z @ y) / 2
            y, z = y @ t, t @ z
            residual = torch.linalg.matrix_norm(y @ y - a / norm)
            if not residual < best_residual:  # converged to round-off, or diverging
                break
            best, best_residual = y, residual
        y = best
        return (y + y.T) / 2 * norm.sqrt()
    raise ValueError(f"sqrtm method must be one of {SQRTM_METHODS}, got {method!r}")


def trace_sqrt_product(
    sigma_a: torch.Tensor, sigma_b: torch.Tensor, method: str = "eigh"
) -> float:
    """Tr (Σ_a^½ Σ_b Σ_a^½)^½ = Tr (Σ_a Σ_b)^½, the Fréchet distance's cross term."""
    root_a = sqrtm_psd(sigma_a, method)
    return torch.trace(sqrtm_psd(root_a @ sigma_b @ root_a, method)).item()


def frechet_distance_from_stats(
    a: GaussianStats, b: GaussianStats, method: str = "eigh"
) -> float:
    """d² = ‖μ_a − μ_b‖² + Tr Σ_a + Tr Σ_b − 2 Tr (Σ_a^½ Σ_b Σ_a^½)^½ (float64)."""
    if a.mu.shape != b.mu.shape:
        raise ValueError(
            f"feature dimensions differ: {a.mu.shape[0]} vs {b.mu.shape[0]}"
        )
    mean_term = (a.mu - b.mu).square().sum().item()
    traces = torch.trace(a.sigma).item() + torch.trace(b.sigma).item()
    return max(
        mean_term + traces - 2 * trace_sqrt_product(a.sigma, b.sigma, method), 0.0
    )


def frechet_distance(
    feats_a: torch.Tensor | np.ndarray,
    feats_b: torch.Tensor | np.ndarray,
    method: str = "eigh",
) -> float:
    """Squared Fréchet distance of Gaussians fitted to ``(N_a, D)`` and ``(N_b, D)``.

    Warns (``UserWarning``) when a set has no more samples than dimensions: the
    covariance is then rank-deficient and the distance strongly biased.
    """
    a, b = frechet_stats(feats_a, "feats_a"), frechet_stats(feats_b, "feats_b")
    for name, stats in (("feats_a", a), ("feats_b", b)):
        if stats.rank_deficient:
            warnings.warn(
                f"frechet_distance: {name} has N={stats.n} <= D={stats.mu.shape[0]} "
                "samples; its covariance is rank-deficient and the distance is biased",
                stacklevel=2,
            )
    return frechet_distance_from_stats(a, b, method)


def _polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² with k(x, y) = (xᵀy/d + 1)³ (KID, Bińkowski et al. 2018, Eq. 3)."""
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy = _polynomial_kernel(x, x), _polynomial_kernel(y, y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return (within_x + within_y - 2 * _polynomial_kernel(x, y).mean()).item()


def kernel_distances(
    feats_a: torch.Tensor | np.ndarray,
    feats_b: torch.Tensor | np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """``subsets`` unbiased MMD² values, each on ``min(subset_size, N_a, N_b)`` random
    rows of each set drawn without replacement (``torch.Generator`` seeded by ``seed``).
    """
    a, b = _as_float64(feats_a, "feats_a"), _as_float64(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    size = min(subset_size, a.shape[0], b.shape[0])
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        rows_a = torch.randperm(a.shape[0], generator=gen)[:size]
        rows_b = torch.randperm(b.shape[0], generator=gen)[:size]
        values.append(mmd2_unbiased(a[rows_a], b[rows_b]))
    return np.asarray(values)


def kernel_distance(
    feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray, **subsets
) -> float:
    """KID-style kernel distance: the mean of :func:`kernel_distances` (can be < 0);
    ``subsets``: its keyword arguments ``subsets``, ``subset_size``, ``seed``."""
    return float(kernel_distances(feats_a, feats_b, **subsets).mean())
