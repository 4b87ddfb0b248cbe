"""The bar a trained model of the book is held to on Shapes, read from its metrics.

A model *works* at a profile when, judged by the Shapes judges on generated clips
against held-out real clips:

* **quality**: the judge-feature Fréchet distance is at most ``FD_MULTIPLE`` times the
  real-vs-real floor at the same clip count (``fd_judge_…_train_vs_test_real``);
* **recognisable and diverse**: the judges' Inception Score of the generated clips is
  at least ``IS_FRACTION`` of the held-out clips' own (``is_judge_<key>_real``), for
  the action and every varying appearance factor;
* **disentangled**, where the paper claims it: ``appearance_kept`` and
  ``action_kept`` of the swap grid are at least ``KEPT``;
* **conditional**, for models with categories: the action judge agrees with the
  requested category at least ``CONDITIONAL`` of the time;
* **NAVS**: on the held-out cells of the action exchange, action, shape and colour
  are each judged right at least ``EXCHANGE`` of the time.

:func:`bar` turns a results file's ``metrics`` into one :class:`Criterion` per check;
a check whose metric the run did not compute is listed as not measured rather than
left out.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.display import HTML

from vidlib.viz import html_table

FD_MULTIPLE = 5.0
IS_FRACTION = 0.8
KEPT = 0.8
CONDITIONAL = 0.8
EXCHANGE = 0.8
EXCHANGE_FACTORS = ("action", "shape", "color")


def _fmt(value: float) -> str:
    """Three significant digits, without an exponent for large values."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


@dataclass(frozen=True)
class Criterion:
    """One check of the bar: ``value`` against ``threshold`` (``met`` is ``None``
    when the run did not measure it)."""

    check: str
    value: float | None
    threshold: float | None
    sense: str  # "<=" or ">="
    met: bool | None
    detail: str = ""

    def shown(self) -> str:
        """The value with enough digits that it does not read as the other side of
        the threshold (0.7996 against 0.8 shows as 0.7996, not 0.8)."""
        assert self.value is not None and self.threshold is not None
        text = _fmt(self.value)
        for digits in range(4, 8):
            passes = _passes(float(text), self.threshold, self.sense)
            if passes == _passes(self.value, self.threshold, self.sense):
                break
            text = f"{self.value:.{digits}g}"
        return text

    def row(self) -> list[str]:
        """Check, value, bar, verdict as text (for :func:`~vidlib.viz.html_table`)."""
        if self.value is None or self.threshold is None:
            return [self.check, "not measured", self.detail, "—"]
        bar = f"{self.sense} {_fmt(self.threshold)}"
        if self.detail:
            bar += f" ({self.detail})"
        verdict = "met" if self.met else "missed"
        return [self.check, self.shown(), bar, verdict]


def _criterion(
    check: str, value: float | None, threshold: float | None, sense: str, detail: str
) -> Criterion:
    if value is None or threshold is None:
        return Criterion(check, None, None, sense, None, detail)
    return Criterion(
        check, value, threshold, sense, _passes(value, threshold, sense), detail
    )


def _passes(value: float, threshold: float, sense: str) -> bool:
    return value <= threshold if sense == "<=" else value >= threshold


def metric_value(metrics: Mapping[str, Any], key: str) -> float | None:
    """The value of metric ``key`` (None when the run did not measure it)."""
    entry = metrics.get(key)
    return None if entry is None else entry.get("value")


def metric_key(metrics: Mapping[str, Any], pattern: str) -> str | None:
    """The one key matching ``pattern`` (a full regex), or None."""
    keys = [k for k in metrics if re.fullmatch(pattern, k)]
    if len(keys) > 1:
        raise ValueError(f"metrics hold several keys matching {pattern!r}: {keys}")
    return keys[0] if keys else None


def bar(
    metrics: Mapping[str, Any],
    *,
    disentangled: bool = True,
    conditional: bool = False,
    exchange: bool = False,
    prefix: str = "",
) -> list[Criterion]:
    """The bar's checks for one model's ``metrics`` (a results file's mapping of
    name to entry); ``prefix`` selects a compared model's entries (``"mocogan_"``).
    ``disentangled``, ``conditional`` and ``exchange`` add the checks the model's
    paper claims."""
    p = re.escape(prefix)
    rows: list[Criterion] = []
    fd_key = metric_key(metrics, rf"{p}fd_judge_\w+?(?<!_train_vs_test_real)")
    floor_key = f"{fd_key[len(prefix) :]}_train_vs_test_real" if fd_key else None
    fd = metric_value(metrics, fd_key or "")
    floor = metric_value(metrics, floor_key or "")
    limit = None if floor is None else FD_MULTIPLE * floor
    detail = "" if floor is None else f"{FD_MULTIPLE:g} × real floor {_fmt(floor)}"
    rows.append(_criterion("judge-feature distance", fd, limit, "<=", detail))
    keys = [
        m[1]
        for k in metrics
        if (m := re.fullmatch(rf"{p}is_judge_(\w+?)(?<!_real)", k))
    ] or ["action"]
    for key in keys:
        value = metric_value(metrics, f"{prefix}is_judge_{key}")
        real = metric_value(metrics, f"is_judge_{key}_real")
        ratio = None if value is None or not real else value / real
        rows.append(
            _criterion(
                f"judge IS of {key}, ÷ real clips' IS",
                ratio,
                IS_FRACTION,
                ">=",
                "" if real is None else f"real IS {_fmt(real)}",
            )
        )
    checks: list[tuple[str, str, float]] = []
    if disentangled:
        checks += [
            ("appearance kept over a motion swap", "appearance_kept", KEPT),
            ("action kept over an appearance swap", "action_kept", KEPT),
        ]
    if conditional:
        checks.append(
            (
                "action judged = requested category",
                "action_accuracy",
                CONDITIONAL,
            )
        )
    for check, name, threshold in checks:
        key = metric_key(metrics, rf"{p}{name}_judge_\w+")
        found = metric_value(metrics, key or "")
        rows.append(_criterion(check, found, threshold, ">=", ""))
    if exchange:
        for factor in EXCHANGE_FACTORS:
            key = f"exchange_held_out_cells_NAVS_{factor}_accuracy"
            rows.append(
                _criterion(
                    f"exchange, unseen cells: {factor} right",
                    metric_value(metrics, key),
                    EXCHANGE,
                    ">=",
                    "",
                )
            )
    return rows


def bar_rows(criteria: Sequence[Criterion]) -> list[list[str]]:
    """Table rows (check, value, bar, verdict) of ``criteria``."""
    return [c.row() for c in criteria]


BAR_HEADER = ("check", "value", "bar", "verdict")


def bar_table(criteria: Sequence[Criterion]) -> HTML:
    """The checks as an HTML table (check, value, bar, verdict) for a chapter."""
    return html_table(BAR_HEADER, bar_rows(criteria))


def verdict(criteria: Sequence[Criterion]) -> str:
    """One sentence: whether the model meets the bar, and which checks it misses
    or did not measure."""
    missed = [c for c in criteria if c.met is False]
    unmeasured = [c.check for c in criteria if c.met is None]
    parts = []
    if missed:
        parts.append(
            f"misses {len(missed)} of {len(criteria)} checks: "
            + "; ".join(
                f"{c.check} ({c.shown()}, bar {c.sense} {_fmt(c.threshold)})"
                for c in missed
            )
        )
    if unmeasured:
        parts.append(f"did not measure: {'; '.join(unmeasured)}")
    if not parts:
        return f"meets all {len(criteria)} checks of the bar"
    return ", and ".join(parts)


def report(title: str, criteria: Sequence[Criterion], width: int = 88) -> str:
    """``"<title> <verdict>."`` wrapped to ``width`` columns for a notebook output."""
    return textwrap.fill(f"{title} {verdict(criteria)}.", width)


__all__ = [
    "BAR_HEADER",
    "Criterion",
    "bar",
    "bar_rows",
    "bar_table",
    "report",
    "verdict",
]


def shares_table(
    generated: Mapping[str, Mapping[str, float]],
    real: Mapping[str, Mapping[str, float]],
) -> HTML:
    """What the judges call generated and real clips (``Judges.shares`` of each): a
    row per judged key and value with both percentages. A factor whose generated
    shares are far from the real ones is what a low Inception Score ratio means."""
    rows = [
        [key, value, f"{share:.0%}", f"{real[key][value]:.0%}"]
        for key, values in generated.items()
        for value, share in values.items()
    ]
    return html_table(("judged", "as", "generated clips", "real clips"), rows)
