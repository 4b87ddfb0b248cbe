"""Inception Score and entropies against hand computations."""

import math

import numpy as np
import pytest
import torch

from vidlib.metrics.inception import (
    conditional_entropy,
    inception_score,
    marginal_entropy,
)


def test_bounds_uniform_and_one_hot():
    mean, std = inception_score(torch.full((8, 4), 0.25))
    assert mean == pytest.approx(1.0, abs=1e-9) and std is None  # one split: no std
    one_hot = torch.eye(4).repeat(3, 1)
    assert inception_score(one_hot)[0] == pytest.approx(4.0, rel=1e-9)
    assert conditional_entropy(one_hot) == pytest.approx(0.0, abs=1e-9)
    assert marginal_entropy(one_hot) == pytest.approx(math.log(4), rel=1e-9)


def test_against_hand_computation_with_splits():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])

    def score(part):
        m = part.mean(0)
        kl = [sum(r[k] * math.log(r[k] / m[k]) for k in range(3)) for r in part]
        return math.exp(sum(kl) / len(kl))

    whole = score(p)
    halves = [score(p[:2]), score(p[2:])]
    assert inception_score(p) == (pytest.approx(whole, rel=1e-9), None)
    mean, std = inception_score(p, splits=2)
    assert mean == pytest.approx(np.mean(halves), rel=1e-9)
    assert std == pytest.approx(np.std(halves), rel=1e-9)
    h = -np.mean([sum(r * np.log(r)) for r in p])
    assert conditional_entropy(p) == pytest.approx(h, rel=1e-9)
    m = p.mean(0)
    assert marginal_entropy(p) == pytest.approx(-(m * np.log(m)).sum(), rel=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.ones(3, 2))
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.eye(2), splits=3)
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        inception_score(torch.ones(3))
