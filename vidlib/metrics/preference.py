"""Two-alternative forced choice (2AFC): preference shares, their Wilson interval, and
the judges' automatic 2AFC.

A 2AFC compares two runs A and B pair by pair: for pair ``i`` a rater sees ``a[i]``
and ``b[i]`` and picks one. The preference for a run is the share of choices that
picked it, over raters × pairs: the residual-vectors paper's "Mean Worker Preference
Score" (Sec. 5.1, Tables 1, 4 and 6). Human pages and their tally are
:mod:`vidlib.afc`; this module holds the arithmetic both use and the judges' 2AFC.

**Interval.** :func:`wilson_interval` is Wilson's score interval (Wilson 1927): the
proportions ``p`` that a two-sided score test at level ``1 - confidence`` does not
reject, ``|p̂ - p| <= z sqrt(p (1 - p) / n)``, solved in closed form. It treats every
choice as an independent Bernoulli trial; choices of several workers on the same pair
are correlated, so with several workers per pair the interval is too narrow (as the
paper's own numbers, which carry none, would be).

**Judge 2AFC** (:func:`judge_preference`): for each pair the action judge prefers the
sample whose action softmax is the more confident (the larger maximum probability);
equal maxima are ties, split half to each run. It is a *judge preference*, a cheap
stand-in computed on Shapes, never a human (worker) preference score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import torch

from vidlib.metrics.judges import Judges

CONFIDENCE = 0.95
CI_METHOD = "Wilson score interval (no continuity correction), {level:g}%"
JUDGE_PROTOCOL = (
    "judge 2AFC (not a human score): per pair, the clip whose {judge} action softmax "
    "has the larger maximum probability is preferred, ties split half to each; "
    "share of pairs, Wilson {level:g}% interval"
)


def wilson_interval(
    successes: float, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson's score interval ``(low, high)`` for a proportion of ``successes`` in
    ``n`` trials (``successes`` may be a half-integer: split ties)."""
    if n < 1:
        raise ValueError(f"a proportion needs n >= 1 trials, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def preference(
    wins_a: int,
    wins_b: int,
    ties: int = 0,
    names: Sequence[str] = ("A", "B"),
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Preference shares of two runs from exact counts: ``{"names", "n", "counts",
    "ties", "share", "ci", "ci_method"}``; each of ``share`` and ``ci`` is keyed by
    run name, ties count half to each run."""
    a, b = _two_names(names)
    n = wins_a + wins_b + ties
    low, high = wilson_interval(wins_a + ties / 2, n, confidence)
    return {
        "names": [a, b],
        "n": n,
        "counts": {a: wins_a, b: wins_b},
        "ties": ties,
        "share": {a: (wins_a + ties / 2) / n, b: (wins_b + ties / 2) / n},
        "ci": {a: [low, high], b: [1 - high, 1 - low]},
        "ci_method": CI_METHOD.format(level=100 * confidence),
    }


def _two_names(names: Sequence[str]) -> tuple[str, str]:
    if len(names) != 2 or names[0] == names[1] or not all(names):
        raise ValueError(f"names must be two different run names, got {names!r}")
    return names[0], names[1]


def action_confidence(judges: Judges, videos: torch.Tensor) -> torch.Tensor:
    """``(N, C, T, H, W)`` -> ``(N,)`` float64: the maximum of the action softmax."""
    return judges.action_logits(videos).double().softmax(dim=1).amax(dim=1).cpu()


def judge_preference(
    videos_a: torch.Tensor,
    videos_b: torch.Tensor,
    judges: Judges,
    names: Sequence[str] = ("A", "B"),
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """The judges' automatic 2AFC of pairs ``(videos_a[i], videos_b[i])`` (module
    docstring): :func:`preference`'s fields plus ``"value"`` (the share of
    ``names[0]``), ``"protocol"`` and ``"rater": "judge"``."""
    a, b = _two_names(names)
    if videos_a.shape[0] == 0 or videos_b.shape[0] == 0:
        raise ValueError(
            f"judge_preference: empty sample set ({a}: {videos_a.shape[0]}, "
            f"{b}: {videos_b.shape[0]} samples); expected N >= 1 pairs"
        )
    if videos_a.shape[0] != videos_b.shape[0]:
        raise ValueError(
            f"judge_preference pairs a[i] with b[i]: {a} has {videos_a.shape[0]} "
            f"samples, {b} has {videos_b.shape[0]}; expected the same N"
        )
    conf_a = action_confidence(judges, videos_a)
    conf_b = action_confidence(judges, videos_b)
    wins_a, wins_b = int((conf_a > conf_b).sum()), int((conf_b > conf_a).sum())
    entry = preference(
        wins_a, wins_b, len(conf_a) - wins_a - wins_b, (a, b), confidence
    )
    protocol = JUDGE_PROTOCOL.format(judge=judges.protocol, level=100 * confidence)
    return {"value": entry["share"][a], **entry, "protocol": protocol, "rater": "judge"}


def results_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A preference entry of :func:`judge_preference` (or :func:`preference` with a
    ``value``) as a results file stores metrics, every field a primitive: the first
    run's share as ``value``, both runs' names and wins, the ties and the first run's
    interval."""
    a, b = entry["names"]
    low, high = entry["ci"][a]
    flat = {
        k: v for k, v in entry.items() if k not in ("names", "counts", "share", "ci")
    }
    return flat | {
        "value": entry["share"][a],
        "first": a,
        "second": b,
        "wins_first": entry["counts"][a],
        "wins_second": entry["counts"][b],
        "ci_low": low,
        "ci_high": high,
        "better": "higher",
    }
