"""Inception Score and the entropies H(y|x), H(y) of a classifier's predictions.

IS = exp(E_x KL(p(y|x) ‖ p(y))) with p(y) the marginal over the split (Salimans et
al. 2016), computed on ``splits`` consecutive, equal parts of the samples and reported
as the mean over the splits, with their standard deviation only when there is more
than one (TGAN, TGANv2 and MoCoGAN, which uses TGAN's code, use one split; TGANv2's
± is over 10 independent runs, StyleGAN-V's over 10 splits). For K classes
1 ≤ IS ≤ K. H(y|x) (lower: confident predictions) and H(y) (higher: diverse classes,
at most ln K) follow the DSA judge protocol, in nats.
"""

from __future__ import annotations

import numpy as np
import torch

EPS = 1e-12


def _check_probs(probs: torch.Tensor | np.ndarray) -> torch.Tensor:
    p = torch.as_tensor(probs).detach().to("cpu", torch.float64)
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(
            f"probs must be (N, K) class probabilities, got {tuple(p.shape)}"
        )
    if (p < 0).any() or not torch.allclose(
        p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-4
    ):
        raise ValueError(
            "probs rows must be non-negative and sum to 1 (apply softmax first)"
        )
    return p


def _kl_to_marginal(p: torch.Tensor) -> torch.Tensor:
    """KL(p(y|x) ‖ p(y)) per sample ``(N,)``, with p(y) the mean of the rows."""
    marginal = p.mean(0, keepdim=True)
    return (p * ((p + EPS).log() - (marginal + EPS).log())).sum(1)


def inception_score(
    probs: torch.Tensor | np.ndarray, splits: int = 1
) -> tuple[float, float | None]:
    """``(N, K)`` probabilities → (mean, std) over splits of exp(E KL(p(y|x)‖p(y))).

    The std (population, ddof=0) is ``None`` for one split: a single score has none.
    """
    p = _check_probs(probs)
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in [1, N={p.shape[0]}], got {splits}")
    scores = torch.stack(
        [_kl_to_marginal(part).mean().exp() for part in p.tensor_split(splits)]
    )
    std = scores.std(correction=0).item() if splits > 1 else None
    return scores.mean().item(), std


def conditional_entropy(probs: torch.Tensor | np.ndarray) -> float:
    """H(y|x) = −E_x Σ_y p(y|x) ln p(y|x), nats."""
    p = _check_probs(probs)
    return (-(p * (p + EPS).log()).sum(1).mean()).item()


def marginal_entropy(probs: torch.Tensor | np.ndarray) -> float:
    """H(y) = −Σ_y p(y) ln p(y) with p(y) = E_x p(y|x), nats."""
    marginal = _check_probs(probs).mean(0)
    return (-(marginal * (marginal + EPS).log()).sum()).item()
