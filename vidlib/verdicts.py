"""Every model under one protocol: intervals over seeds, and verdicts on the papers'
claims from paired seeds.

A *family* is one measurement of a results file, found by its key whatever the
judges' protocol suffix (:data:`FAMILIES`). Over a model's seeds, a family is shown as
its mean and a two-sided 95% Student-t interval, ``mean ± t(0.975, n-1) s / sqrt(n)``
(:func:`interval`). A claim "A is better than B on a family" (``vidlib/claims.yaml``,
read by :func:`read_claims`) is tested on the seeds both models ran, paired: the
per-seed differences get the same t-interval (a paired t-test at the 5% level), and the
verdict is *holds* when the interval lies on the claimed side of zero, *does not hold*
when it lies on the other side, *inconclusive* when it covers zero, and no verdict
from fewer than two paired seeds (:func:`verdict`). A claim that a model *keeps* an
ability of another ("no worse than") is read as non-inferiority: the same interval
against a margin −δ instead of zero, with δ given in the claims file. A claim that is
about what a model does *when it works* names a precondition (``requires``): a seed is
paired only where both models reach ``at_least`` on that family (e.g. both follow the
asked category), and the verdict says which seeds were left out and why. A claim about
one model against a bar (``model``, ``metric``, ``at_least``: NAVS's action exchange)
reads the t-interval of that model's values over its seeds: *holds* when it lies at or
above the bar, *does not hold* when it lies below, *inconclusive* when it straddles it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from scipy import stats

from vidlib.bar import metric_key, metric_value

CLAIMS = Path(__file__).with_name("claims.yaml")
MIN_SEEDS = 2  # no interval, and no verdict, from one seed
TEST = "paired t-test, two-sided, 5% (95% t-interval of the per-seed differences)"
NONINFERIORITY = (
    "paired non-inferiority test with margin δ: holds when the 95% t-interval of the"
    " per-seed advantage lies above −δ, does not hold when it lies below −δ"
)


@dataclass(frozen=True)
class Family:
    """A measurement shown across models: its key pattern and which way is better."""

    key: str
    label: str
    pattern: str  # a full regex over metric names
    better: str  # "lower" or "higher"
    disentangling: bool = False  # measured only for models with separate codes
    headline: bool = True  # a column of the headline tables (else read by claims only)


def _judged(name: str) -> str:
    return rf"{name}_judge_\w+?(?<!_train_vs_test_real)"


EXCHANGE_LABELS = {"action": "action", "shape": "shape", "color": "colour"}
FAMILIES: tuple[Family, ...] = (
    Family("fd_judge", "judge-feature distance", _judged("fd"), "lower"),
    Family(
        "fd_floor", "real-vs-real floor", r"fd_judge_\w+_train_vs_test_real", "lower"
    ),
    Family("kd_judge", "judge kernel distance", _judged("kd"), "lower"),
    Family("is_judge_action", "judge IS, action", "is_judge_action", "higher"),
    Family("is_judge_shape", "judge IS, shape", "is_judge_shape", "higher"),
    Family("is_judge_color", "judge IS, colour", "is_judge_color", "higher"),
    Family(
        "appearance_kept", "appearance kept", r"appearance_kept_\w+", "higher", True
    ),
    Family("action_kept", "action kept", r"action_kept_\w+", "higher", True),
    Family(
        "motion_controls_action",
        "motion → action",
        r"motion_controls_action_\w+",
        "higher",
        True,
    ),
    Family(
        "leak_motion_to_appearance",
        "leak motion → appearance",
        r"leak_motion_to_appearance_\w+",
        "lower",
        True,
    ),
    Family(
        "leak_appearance_to_action",
        "leak appearance → action",
        r"leak_appearance_to_action_\w+",
        "lower",
        True,
    ),
    # measured only by the runs of the claims that read them
    Family(
        "fcs", "frame consistency (SSIM)", "fcs_navs_ssim", "higher", headline=False
    ),
    Family(
        "action_accuracy",
        "judged action = asked category",
        r"action_accuracy_\w+",
        "higher",
        headline=False,
    ),
    Family(
        "is_frame_classifier",
        "image IS (frame classifier)",
        "is_frame_classifier",
        "higher",
        headline=False,
    ),
    *(
        Family(
            f"exchange_{factor}",
            f"exchange: held-out cells' {label} judged right",
            f"exchange_held_out_cells_NAVS_{factor}_accuracy",
            "higher",
            headline=False,
        )
        for factor, label in EXCHANGE_LABELS.items()
    ),
    Family(
        "category_swap_appearance_kept",
        "appearance kept under a category swap",
        r"category_swap_appearance_kept_\w+",
        "higher",
        headline=False,
    ),
)
BY_KEY = {family.key: family for family in FAMILIES}


def value(metrics: Mapping[str, Any], family: Family) -> float | None:
    """The value of ``family`` in a results file's ``metrics`` (None when absent)."""
    found = metric_value(metrics, metric_key(metrics, family.pattern) or "")
    return None if found is None else float(found)


@dataclass(frozen=True)
class Interval:
    """Mean and half-width of a two-sided 95% t-interval over ``n`` values."""

    mean: float
    half: float | None  # None below MIN_SEEDS
    n: int

    @property
    def low(self) -> float:
        return self.mean - (self.half or 0.0)

    @property
    def high(self) -> float:
        return self.mean + (self.half or 0.0)

    def text(self, show_n: bool = True) -> str:
        """``mean ± half (n=…)`` with three significant digits (``show_n``: with n)."""
        n = f" (n={self.n})" if show_n else ""
        if self.half is None:
            return f"{_fmt(self.mean)}{n}"
        return f"{_fmt(self.mean)} ± {_fmt(self.half)}{n}"


def _fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` and its two-sided 95% Student-t half-width."""
    n = len(values)
    if n == 0:
        raise ValueError("an interval needs at least one value")
    mean = math.fsum(values) / n
    if n < MIN_SEEDS:
        return Interval(mean, None, n)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Interval(mean, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n), n)


BAR_TEST = (
    "one-sample test against the bar: the 95% t-interval of the model's values over"
    " its seeds, at or above the bar (holds), below it (does not hold)"
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim's test."""

    status: str  # holds | does not hold | inconclusive | no verdict | untested
    detail: str
    seeds: tuple[int, ...] = ()
    difference: Interval | None = None
    test: str = TEST  # the test this verdict used


def verdict(
    better: Mapping[int, float],
    than: Mapping[int, float],
    family: Family,
    margin: float | None = None,
) -> Verdict:
    """Whether the model with per-seed values ``better`` beats ``than`` on
    ``family``, on the seeds both have (paired); with a ``margin`` δ, whether it is
    no worse than ``than`` by more than δ (non-inferiority)."""
    seeds = tuple(sorted(set(better) & set(than)))
    if len(seeds) < MIN_SEEDS:
        return Verdict(
            "no verdict",
            f"{len(seeds)} paired seed(s); a verdict needs {MIN_SEEDS} or more",
            seeds,
        )
    sign = -1.0 if family.better == "lower" else 1.0
    gains = [sign * (better[s] - than[s]) for s in seeds]  # > 0: the claim's side
    diff = interval(gains)
    bound = -(margin or 0.0)
    if diff.low > bound:
        status = "holds"
    elif diff.high < bound:
        status = "does not hold"
    else:
        status = "inconclusive"
    detail = (
        f"advantage in {family.label} ({family.better} is better),"
        f" mean ± half-width over the paired seeds: {diff.text(False)}"
    )
    if margin is None:
        return Verdict(status, detail, seeds, diff)
    detail += f"; non-inferiority margin δ = {_fmt(margin)}"
    return Verdict(status, detail, seeds, diff, NONINFERIORITY)


def bar_verdict(
    values: Mapping[int, float], family: Family, at_least: float
) -> Verdict:
    """Whether one model's per-seed ``values`` of a higher-is-better ``family`` reach
    ``at_least``: the t-interval of the values against the bar."""
    seeds = tuple(sorted(values))
    if len(seeds) < MIN_SEEDS:
        return Verdict(
            "no verdict",
            f"{len(seeds)} seed(s); a verdict needs {MIN_SEEDS} or more",
            seeds,
            test=BAR_TEST,
        )
    iv = interval([values[s] for s in seeds])
    if iv.low >= at_least:
        status = "holds"
    elif iv.high < at_least:
        status = "does not hold"
    else:
        status = "inconclusive"
    detail = (
        f"{family.label}, mean ± half-width over the seeds: {iv.text(False)}, against"
        f" the bar {_fmt(at_least)}"
    )
    return Verdict(status, detail, seeds, iv, BAR_TEST)


# ------------------------------------------------------------------ claims
CLAIM_KEYS = {"id", "paper", "where", "claim", "test", "untested"}
TEST_KEYS = {"better", "than", "metric"}
BAR_KEYS = {"model", "metric", "at_least"}  # one model against a bar
OPTIONAL_TEST_KEYS = {"margin", "requires"}
# margin > 0: a non-inferiority claim ("no worse than"); requires: {metric, at_least},
# the seeds on which both models reach at_least on that family (a precondition)
REQUIRES_KEYS = {"metric", "at_least"}


@dataclass(frozen=True)
class Claim:
    """A paper's headline claim, with the comparison that tests it or why none does."""

    id: str
    paper: str  # the paper's name (its bib key is in the claims file)
    where: str
    claim: str
    test: dict[str, str] | None
    untested: str | None


def read_claims(path: Path = CLAIMS, models: Sequence[str] = ()) -> list[Claim]:
    """The claims of ``path``, checked: each has an id, paper, where and claim text and
    exactly one of ``test`` (``better``/``than`` among ``models`` when given, a
    ``metric`` of :data:`FAMILIES`) or ``untested`` (why)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read claims ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError(f"{path}: expected a mapping with a 'claims' list")
    papers = data.get("papers")
    if not isinstance(papers, dict) or not papers:
        raise ValueError(f"{path}: expected 'papers', a mapping of bib key to name")
    claims, seen = [], set()
    for i, entry in enumerate(data["claims"]):
        where = f"{path}, claim {i + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping, got {entry!r}")
        where = f"{path}, claim {entry.get('id', i + 1)!r}"
        if unknown := sorted(set(entry) - CLAIM_KEYS):
            raise ValueError(f"{where}: unknown key(s) {unknown}")
        for key in ("id", "paper", "where", "claim"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ValueError(f"{where}: '{key}' must be a non-empty string")
        if entry["paper"] not in papers:
            raise ValueError(
                f"{where}: paper {entry['paper']!r} is not in 'papers':"
                f" {sorted(papers)}"
            )
        if entry["id"] in seen:
            raise ValueError(f"{where}: id used twice")
        seen.add(entry["id"])
        test, untested = entry.get("test"), entry.get("untested")
        if (test is None) == (untested is None):
            raise ValueError(f"{where}: give exactly one of 'test' or 'untested'")
        if test is not None:
            _check_test(test, where, models)
        elif not isinstance(untested, str) or not untested.strip():
            raise ValueError(f"{where}: 'untested' must say why no run tests it")
        claims.append(
            Claim(
                entry["id"],
                papers[entry["paper"]],
                entry["where"],
                " ".join(entry["claim"].split()),
                test,
                None if untested is None else " ".join(untested.split()),
            )
        )
    return claims


def _check_bar(test: dict, where: str, models: Sequence[str]) -> None:
    if test["metric"] not in BY_KEY or BY_KEY[test["metric"]].better != "higher":
        higher = sorted(k for k, f in BY_KEY.items() if f.better == "higher")
        raise ValueError(
            f"{where}: a bar test needs a higher-is-better metric, one of {higher};"
            f" got {test['metric']!r}"
        )
    at_least = test["at_least"]
    if isinstance(at_least, bool) or not isinstance(at_least, int | float):
        raise ValueError(f"{where}: at_least must be a number, got {at_least!r}")
    if models and test["model"] not in models:
        raise ValueError(
            f"{where}: model {test['model']!r} is not a model of the book:"
            f" {', '.join(models)}"
        )


def _check_test(test: Any, where: str, models: Sequence[str]) -> None:
    if isinstance(test, dict) and set(test) == BAR_KEYS:
        _check_bar(test, where, models)
        return
    if not isinstance(test, dict) or not TEST_KEYS <= set(test) <= (
        TEST_KEYS | OPTIONAL_TEST_KEYS
    ):
        raise ValueError(
            f"{where}: 'test' must map {sorted(TEST_KEYS)}, optionally"
            f" {sorted(OPTIONAL_TEST_KEYS)}, or exactly {sorted(BAR_KEYS)} (one"
            " model against a bar)"
        )
    margin = test.get("margin")
    if "margin" in test and (
        isinstance(margin, bool)
        or not isinstance(margin, int | float)
        or not math.isfinite(margin)
        or margin <= 0
    ):
        raise ValueError(f"{where}: margin must be a number > 0, got {margin!r}")
    if test["metric"] not in BY_KEY:
        raise ValueError(
            f"{where}: metric {test['metric']!r} is none of {sorted(BY_KEY)}"
        )
    if "requires" in test:
        _check_requires(test["requires"], where)
    for side in ("better", "than"):
        if models and test[side] not in models:
            raise ValueError(
                f"{where}: {side} {test[side]!r} is not a model of the book:"
                f" {', '.join(models)}"
            )
    if test["better"] == test["than"]:
        raise ValueError(f"{where}: a model cannot be tested against itself")


def _check_requires(requires: Any, where: str) -> None:
    if not isinstance(requires, dict) or set(requires) != REQUIRES_KEYS:
        raise ValueError(
            f"{where}: 'requires' must map exactly {sorted(REQUIRES_KEYS)}, got"
            f" {requires!r}"
        )
    if requires["metric"] not in BY_KEY:
        raise ValueError(
            f"{where}: requires metric {requires['metric']!r} is none of"
            f" {sorted(BY_KEY)}"
        )
    at_least = requires["at_least"]
    if isinstance(at_least, bool) or not isinstance(at_least, int | float):
        raise ValueError(
            f"{where}: requires at_least must be a number, got {at_least!r}"
        )


def judge_claim(
    claim: Claim, per_seed: Mapping[str, Mapping[int, Mapping[str, Any]]]
) -> Verdict:
    """The verdict on ``claim`` from ``per_seed[model][seed]`` = that run's metrics."""
    if claim.test is None:
        return Verdict("untested", claim.untested or "")
    test = claim.test
    family = BY_KEY[test["metric"]]
    if "model" in test:
        runs = per_seed.get(test["model"], {})
        values = {s: v for s, m in runs.items() if (v := value(m, family)) is not None}
        return bar_verdict(values, family, test["at_least"])
    sides = []
    for side in ("better", "than"):
        runs = per_seed.get(test[side], {})
        sides.append(
            {
                seed: v
                for seed, metrics in runs.items()
                if (v := value(metrics, family)) is not None
            }
        )
    if "requires" not in test:
        return verdict(sides[0], sides[1], family, test.get("margin"))
    need, at_least = BY_KEY[test["requires"]["metric"]], test["requires"]["at_least"]
    short = {}  # seed: the models below the precondition on it
    for seed in sorted(set(sides[0]) & set(sides[1])):
        for side in ("better", "than"):
            got = value(per_seed[test[side]][seed], need)
            if got is None or got < at_least:
                short.setdefault(seed, []).append(test[side])
    kept = [{s: v for s, v in values.items() if s not in short} for values in sides]
    found = verdict(kept[0], kept[1], family, test.get("margin"))
    if not short:
        return found
    left_out = "; ".join(
        f"seed {seed} ({', '.join(models)} below)" for seed, models in short.items()
    )
    return dataclasses.replace(
        found,
        detail=f"{found.detail}; only seeds where both models reach {need.label}"
        f" >= {_fmt(at_least)} are paired, left out: {left_out}",
    )


# ------------------------------------------------------------------ tables
def separate_codes(model: str) -> bool:
    """Whether the Method named ``model`` has separate appearance and motion codes."""
    from vidlib.method import method_classes  # late: torch, the models

    method = method_classes(model)[0]
    return method.appearance_code is not None and method.motion_code is not None


def _values(found: Sequence[Any], family: Family) -> list[float]:
    return [
        v for run in found if (v := value(run.results["metrics"], family)) is not None
    ]


def ratios(found: Sequence[Any]) -> list[float]:
    """Each run's judge-feature distance over its own real-vs-real floor."""
    out = []
    for run in found:
        metrics = run.results["metrics"]
        fd, floor = (
            value(metrics, BY_KEY["fd_judge"]),
            value(metrics, BY_KEY["fd_floor"]),
        )
        if fd is not None and floor:
            out.append(fd / floor)
    return out


QUALITY = tuple(f for f in FAMILIES if f.headline and not f.disentangling)
DISENTANGLEMENT = tuple(f for f in FAMILIES if f.headline and f.disentangling)
CLAIMS_ONLY = tuple(f for f in FAMILIES if not f.headline)


def measured(
    runs: Mapping[str, Sequence[Any]], families: Sequence[Family]
) -> list[Family]:
    """The ``families`` that at least one run of ``runs`` (model key → its seed runs)
    measured."""
    return [f for f in families if any(_values(found, f) for found in runs.values())]


def model_table(
    runs: Mapping[str, Sequence[Any]],
    families: Sequence[Family] = FAMILIES,
    name_of: Callable[[str], str] = str,
    ratio: bool = True,
) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, one row per model of ``runs`` (model key → its seed runs, each with its
    ``results``): its seeds, (with ``ratio``) the distance as a multiple of its floor,
    then each family's interval over the seeds; and notes on the ``n/a`` cells."""
    header = ["model", "seeds", *(["distance ÷ floor"] if ratio else [])]
    header += [f.label for f in families]
    rows, no_codes = [], []
    for model, found in runs.items():
        if not found:
            continue
        name = name_of(model)
        row = [name, str(len(found))]
        if ratio:
            multiples = ratios(found)
            row.append(interval(multiples).text(False) if multiples else "—")
        codes = separate_codes(found[0].results["record"]["model"]["name"])
        if not codes:
            no_codes.append(name)
        for family in families:
            values = _values(found, family)
            if values:
                row.append(interval(values).text(len(values) != len(found)))
            else:
                row.append("n/a" if family.disentangling and not codes else "—")
        rows.append(row)
    notes = []
    if no_codes and any(f.disentangling for f in families):
        notes.append(
            f"n/a: {', '.join(no_codes)} draw a clip from codes that do not split into"
            " an appearance code and a motion code, so the swap grid has nothing to"
            " swap."
        )
    notes.append("—: not measured by that run's record at this profile.")
    return header, rows, notes


def reference_table(
    reference: Mapping[int, Mapping[str, Mapping[str, Any]]], found: Sequence[Any]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the reference rows over seeds (``reference[seed][row]`` =
    metric entries) and the held-out clips' own judge IS (from the runs ``found``)."""
    families = [BY_KEY["fd_judge"], BY_KEY["kd_judge"]]
    header = ["reference row", "seeds", *(f.label for f in families)]
    rows = []
    for row in next(iter(reference.values()), {}):
        cells = [row.replace("_", " "), str(len(reference))]
        for family in families:
            values = [
                v
                for seed in reference
                if (v := value(reference[seed][row], family)) is not None
            ]
            cells.append(interval(values).text(False) if values else "—")
        rows.append(cells)
    own = ["held-out clips' own judge IS", str(len(found)), "", ""]
    scores = []
    for factor in ("action", "shape", "color"):
        values = [
            run.results["metrics"][f"is_judge_{factor}_real"]["value"]
            for run in found
            if f"is_judge_{factor}_real" in run.results["metrics"]
        ]
        if values:
            scores.append(f"{factor} {interval(values).text(False)}")
    if scores:
        own[2] = "; ".join(scores)
        rows.append(own)
    return header, rows


def _test_text(claim: Claim, name_of: Callable[[str], str]) -> str:
    if claim.test is None:
        return "no run yet"
    family = BY_KEY[claim.test["metric"]]
    if "model" in claim.test:
        return (
            f"{name_of(claim.test['model'])}, {family.label} at least"
            f" {_fmt(claim.test['at_least'])}"
        )
    reading = "against"
    if (margin := claim.test.get("margin")) is not None:
        reading = f"no worse (by more than {_fmt(margin)}) than"
    return (
        f"{name_of(claim.test['better'])} {reading} {name_of(claim.test['than'])},"
        f" {family.label} ({family.better} is better)"
    )


def claims_markdown(
    claims: Sequence[Claim],
    judged: Mapping[str, Verdict],
    name_of: Callable[[str], str] = str,
) -> str:
    """Every claim as Markdown, by paper: where, what the paper says, what tests it
    and the verdict with its reason."""
    lines, paper = [], None
    for claim in claims:
        if claim.paper != paper:
            paper = claim.paper
            lines += ["", f"**{paper}**", ""]
        v = judged[claim.id]
        seeds = f" (seeds {', '.join(map(str, v.seeds))})" if v.seeds else ""
        lines.append(
            f"* **{v.status}** · {claim.where} · `{claim.id}`  \n"
            f"  {claim.claim}  \n"
            f"  *Tested by:* {_test_text(claim, name_of)}."
            f" *Why:* {v.detail.rstrip('.')}{seeds}."
        )
    return "\n".join(lines)


def claims_summary(
    claims: Sequence[Claim], judged: Mapping[str, Verdict]
) -> tuple[list[str], list[list[str]]]:
    """Header and one row per paper: how many of its claims have each verdict."""
    papers = list(dict.fromkeys(claim.paper for claim in claims))
    header = ["paper", *STATUSES]
    rows = []
    for paper in papers:
        statuses = [judged[c.id].status for c in claims if c.paper == paper]
        rows.append([paper, *(str(statuses.count(s)) for s in STATUSES)])
    return header, rows


STATUSES = ("holds", "does not hold", "inconclusive", "no verdict", "untested")
VERDICT_VALUE = {"holds": 1, "does not hold": -1, "inconclusive": 0}
VERDICT_VALUE |= {"no verdict": None, "untested": None}


def count(judged: Sequence[Verdict] | Any) -> dict[str, int]:
    """How many verdicts have each status, in the order of :data:`STATUSES`."""
    statuses = [v.status for v in judged]
    return {s: statuses.count(s) for s in STATUSES if s in statuses}


def results_metrics(
    runs: Mapping[str, Sequence[Any]], judged: Mapping[str, Verdict]
) -> dict[str, dict[str, Any]]:
    """The chapter's results-file metrics: each model's mean over seeds of each family
    (with the interval and seed count), and each claim's verdict."""
    metrics: dict[str, dict[str, Any]] = {}
    for model, found in runs.items():
        for family in FAMILIES:
            values = _values(found, family)
            if values:
                iv = interval(values)
                metrics[f"{model}_{family.key}_mean"] = {
                    "value": iv.mean,
                    "half_width_95": iv.half,
                    "n_seeds": iv.n,
                    "seeds": ",".join(str(run.seed) for run in found),
                    "protocol": "mean over seeds, two-sided 95% Student-t interval",
                }
    for claim_id, v in judged.items():
        metrics[f"claim_{claim_id}"] = {
            "value": VERDICT_VALUE[v.status],
            "verdict": v.status,
            "detail": v.detail,
            "seeds": ",".join(map(str, v.seeds)),
            "protocol": f"{v.test}; value 1 holds, -1 does not hold, 0 inconclusive",
        }
    return metrics
