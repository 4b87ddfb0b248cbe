"""The results chapter's statistics and claims (vidlib.verdicts): intervals against
hand values and scipy's, paired verdicts, the claims file and its refusals."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from scipy import stats

from vidlib import seeds, verdicts
from vidlib.results import read_results_file

FD = verdicts.BY_KEY["fd_judge"]
KEPT = verdicts.BY_KEY["appearance_kept"]


def test_interval_is_the_student_t_interval() -> None:
    iv = verdicts.interval([1.0, 2.0, 3.0])
    # mean 2, s = 1, t(0.975, 2) = 4.302653 (tables), half = 4.302653 / sqrt(3)
    assert iv.mean == 2.0 and iv.n == 3
    assert iv.half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    values = [0.3, 1.7, 0.9, 2.2]
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 4, scale=stats.sem(values)
    )
    got = verdicts.interval(values)
    assert (got.low, got.high) == pytest.approx((low, high), rel=1e-12)


def test_one_value_has_no_interval() -> None:
    iv = verdicts.interval([5.0])
    assert iv.half is None and iv.text() == "5 (n=1)"
    with pytest.raises(ValueError, match="at least one"):
        verdicts.interval([])


def test_verdicts_are_paired_and_follow_the_better_side() -> None:
    # lower is better: A below B on every seed by about 10 -> holds
    a = {0: 100.0, 1: 110.0, 2: 95.0}
    b = {0: 111.0, 1: 119.0, 2: 106.0}
    assert verdicts.verdict(a, b, FD).status == "holds"
    assert verdicts.verdict(b, a, FD).status == "does not hold"
    # higher is better: the same numbers read the other way
    assert verdicts.verdict(b, a, KEPT).status == "holds"
    # the seeds' spread is large but the pairs move together: paired, it holds
    assert (
        verdicts.verdict(
            {0: 10.0, 1: 500.0, 2: 90.0}, {0: 12.0, 1: 502.2, 2: 91.9}, FD
        ).status
        == "holds"
    )
    # differences of both signs: inconclusive
    mixed = verdicts.verdict({0: 1.0, 1: 5.0, 2: 3.0}, {0: 2.0, 1: 4.0, 2: 3.5}, FD)
    assert mixed.status == "inconclusive" and mixed.seeds == (0, 1, 2)
    # the paired difference's interval is the t-interval of the gains
    gains = [11.0, 9.0, 11.0]
    assert verdicts.verdict(a, b, FD).difference == verdicts.interval(gains)


def test_non_inferiority_reads_the_interval_against_the_margin() -> None:
    """A "keeps" claim: the advantage's interval against −δ instead of zero."""
    than = {0: 0.80, 1: 0.70, 2: 0.90}
    # 0.05 worse on every seed (interval ≈ (−0.05, −0.05)): no better, but within δ
    slightly_worse = {s: v - 0.05 for s, v in than.items()}
    assert verdicts.verdict(slightly_worse, than, KEPT).status == "does not hold"
    kept = verdicts.verdict(slightly_worse, than, KEPT, margin=0.1)
    assert kept.status == "holds" and kept.test == verdicts.NONINFERIORITY
    assert "δ = 0.1" in kept.detail
    # 0.3 worse on every seed: below −δ
    much_worse = {s: v - 0.3 for s, v in than.items()}
    assert verdicts.verdict(much_worse, than, KEPT, 0.1).status == "does not hold"
    # gains −0.2, 0.1, −0.05: the interval (−0.43, 0.33) covers −0.1
    spread = {0: 0.60, 1: 0.80, 2: 0.85}
    assert verdicts.verdict(spread, than, KEPT, 0.1).status == "inconclusive"
    # lower is better: 5 above (worse) with δ 10 holds, with δ 2 does not
    fd = {0: 100.0, 1: 120.0, 2: 90.0}
    worse_fd = {s: v + 5.0 for s, v in fd.items()}
    assert verdicts.verdict(worse_fd, fd, FD, 10.0).status == "holds"
    assert verdicts.verdict(worse_fd, fd, FD, 2.0).status == "does not hold"
    assert verdicts.verdict(worse_fd, fd, FD).test == verdicts.TEST


def test_a_precondition_pairs_only_the_seeds_where_both_models_meet_it() -> None:
    """``requires``: seed 1, where ``than`` follows its category only 0.3 of the time,
    is left out and named; the verdict is the paired test on seeds 0 and 2 alone."""
    swap = verdicts.BY_KEY["category_swap_appearance_kept"]
    follows = {0: (0.9, 0.8), 1: (0.9, 0.3), 2: (0.7, 0.6)}
    kept = {0: (0.8, 0.2), 1: (0.1, 0.9), 2: (0.7, 0.3)}
    per_seed = {
        side: {
            s: {
                "action_accuracy_j": {"value": follows[s][i]},
                "category_swap_appearance_kept_j": {"value": kept[s][i]},
            }
            for s in (0, 1, 2)
        }
        for i, side in enumerate(("g3an_conditional", "mocogan_categorical"))
    }
    test = {
        "better": "g3an_conditional",
        "than": "mocogan_categorical",
        "metric": "category_swap_appearance_kept",
    }
    claim = verdicts.Claim("c", "G3AN", "Fig. 8", "keeps", test, None)
    everything = verdicts.judge_claim(claim, per_seed)
    assert everything.seeds == (0, 1, 2) and everything.status == "inconclusive"
    test["requires"] = {"metric": "action_accuracy", "at_least": 0.5}
    got = verdicts.judge_claim(claim, per_seed)
    # the gains on seeds 0 and 2 are 0.6 and 0.4: mean 0.5, s = 0.1414,
    # half = t(0.975, 1) 12.7062 * 0.1414 / sqrt 2 = 1.2706
    assert got.seeds == (0, 2)
    assert got.difference.mean == pytest.approx(0.5)
    assert got.difference.half == pytest.approx(12.706205 * 0.1, rel=1e-6)
    assert "left out: seed 1 (mocogan_categorical below)" in got.detail
    alone = verdicts.verdict({0: 0.8, 2: 0.7}, {0: 0.2, 2: 0.3}, swap)
    assert (got.status, got.difference) == (alone.status, alone.difference)
    assert got.detail.startswith(alone.detail)
    test["requires"]["at_least"] = 0.95  # no seed left: no verdict, and why
    none = verdicts.judge_claim(claim, per_seed)
    assert none.status == "no verdict" and "seed 0 (g3an_conditional, " in none.detail


def test_a_bar_claim_reads_one_models_interval_against_the_bar() -> None:
    """``test: {model, metric, at_least}``: values 0.9, 1.0, 0.95 have mean 0.95 and
    half-width t(0.975, 2) · 0.05 / sqrt 3 = 0.1242, so the interval [0.826, 1.074]
    lies above 0.8 (holds) and straddles 0.9 (inconclusive); 0.5, 0.6, 0.55 lie below
    0.8 (does not hold); one seed gives no verdict."""
    action = verdicts.BY_KEY["exchange_action"]
    key = "exchange_held_out_cells_NAVS_action_accuracy"
    test = {"model": "navs_exchange", "metric": "exchange_action", "at_least": 0.8}
    claim = verdicts.Claim("x", "NAVS", "Table 3", "exchange", test, None)

    def judged(values: list[float]) -> verdicts.Verdict:
        runs = {s: {key: {"value": v}} for s, v in enumerate(values)}
        return verdicts.judge_claim(claim, {"navs_exchange": runs})

    got = judged([0.9, 1.0, 0.95])
    assert got.status == "holds" and got.test == verdicts.BAR_TEST
    assert got.difference.half == pytest.approx(4.302653 * 0.05 / math.sqrt(3))
    assert "against the bar 0.8" in got.detail and got.seeds == (0, 1, 2)
    assert judged([0.5, 0.6, 0.55]).status == "does not hold"
    test["at_least"] = 0.9
    assert judged([0.9, 1.0, 0.95]).status == "inconclusive"
    assert judged([1.0]).status == "no verdict"
    assert verdicts.bar_verdict({}, action, 0.8).status == "no verdict"


def test_no_verdict_from_one_paired_seed() -> None:
    only = verdicts.verdict({0: 1.0, 1: 2.0}, {1: 9.0, 2: 9.0}, FD)
    assert only.status == "no verdict" and only.seeds == (1,)
    assert "1 paired seed" in only.detail


def test_value_finds_a_family_whatever_the_judges_suffix() -> None:
    metrics = {
        "fd_judge_shapes32x8_abc": {"value": 7.0},
        "fd_judge_shapes32x8_abc_train_vs_test_real": {"value": 2.0},
        "mocogan_fd_judge_shapes32x8_abc": {"value": 99.0},
        "reference_appearance_kept_judge_x": {"value": 0.1},
    }
    assert verdicts.value(metrics, FD) == 7.0
    assert verdicts.value(metrics, verdicts.BY_KEY["fd_floor"]) == 2.0
    assert verdicts.value(metrics, KEPT) is None


def run(seed: int, metrics: dict, model: str = "mocogan") -> SimpleNamespace:
    record = {"model": {"name": model}}
    return SimpleNamespace(seed=seed, results={"metrics": metrics, "record": record})


def test_model_table_marks_models_without_separate_codes() -> None:
    entry = {
        "fd_judge_j": {"value": 10.0},
        "fd_judge_j_train_vs_test_real": {"value": 2.0},
    }
    runs = {
        "vgan": [run(0, entry, "vgan"), run(1, entry, "vgan")],
        "mocogan": [run(0, entry)],
    }
    header, rows, notes = verdicts.model_table(runs, name_of=seeds.name)
    kept = header.index("appearance kept")
    assert rows[0][:4] == ["VGAN", "2", "5 ± 0", "10 ± 0"]
    assert rows[0][kept] == "n/a" and rows[1][kept] == "—"
    assert "VGAN" in notes[0] and "MoCoGAN" not in notes[0]
    runs["mocogan"].append(run(1, {"fd_judge_j": {"value": 12.0}}))
    header, rows, notes = verdicts.model_table(
        runs, verdicts.QUALITY, seeds.name, ratio=False
    )
    assert header[:3] == ["model", "seeds", "judge-feature distance"]
    assert rows[1][:3] == ["MoCoGAN", "2", "11 ± 12.7"]  # 11 ± 12.706 · 1 / sqrt 2
    assert rows[1][3] == "2 (n=1)"  # a floor of one of the two seeds: n shown
    assert len(notes) == 1  # no disentanglement column, no n/a note


def test_claims_are_listed_by_paper_with_their_verdicts() -> None:
    claims = verdicts.read_claims(models=seeds.KEYS)
    judged = {c.id: verdicts.judge_claim(c, {}) for c in claims}
    text = verdicts.claims_markdown(claims, judged, seeds.name)
    assert text.count("* **") == len(claims)
    assert text.index("**G3AN**") < text.index("**AVLAE**") < text.index("**NAVS**")
    header, rows = verdicts.claims_summary(claims, judged)
    assert header == ["paper", *verdicts.STATUSES]
    assert sum(int(n) for row in rows for n in row[1:]) == len(claims)
    tested = sum(1 for c in claims if c.test)
    assert sum(int(row[header.index("no verdict")]) for row in rows) == tested


def claims_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "claims.yaml"
    path.write_text("papers: {wang2020g3an: G3AN}\nclaims:\n" + body)
    return path


GOOD = """  - id: a
    paper: wang2020g3an
    where: Table 1
    claim: G3AN is better.
    test: {better: g3an, than: mocogan, metric: fd_judge}
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD.replace("test: {", "untested: no run\n    test: {"), "exactly one"),
        (GOOD.replace("metric: fd_judge", "metric: fvd"), "metric 'fvd'"),
        (GOOD.replace("than: mocogan", "than: videovae"), "than 'videovae'"),
        (GOOD.replace("than: mocogan", "than: g3an"), "against itself"),
        (GOOD.replace("paper: wang2020g3an", "paper: nobody2020"), "nobody2020"),
        (GOOD.replace("    where: Table 1\n", ""), "'where'"),
        (GOOD + GOOD, "id used twice"),
        (GOOD.replace("    where", "    typo: 1\n    where"), "unknown key"),
        (GOOD.replace("fd_judge}", "fd_judge, margin: 0}"), "margin must be"),
        (GOOD.replace("fd_judge}", "fd_judge, margin: a}"), "margin must be"),
        (GOOD.replace("fd_judge}", "fd_judge, margni: 1}"), "optionally"),
        (
            GOOD.replace(
                "better: g3an, than: mocogan, metric: fd_judge",
                "model: g3an, metric: fd_judge, at_least: 1",
            ),
            "a bar test needs a higher-is-better metric",
        ),
        (
            GOOD.replace(
                "better: g3an, than: mocogan, metric: fd_judge",
                "model: g3an, metric: fcs, at_least: high",
            ),
            "at_least must be a number",
        ),
        (
            GOOD.replace(
                "better: g3an, than: mocogan, metric: fd_judge",
                "model: videovae, metric: fcs, at_least: 1",
            ),
            "model 'videovae' is not a model",
        ),
        (
            GOOD.replace("fd_judge}", "fd_judge, requires: {metric: fcs}}"),
            "'requires' must map exactly",
        ),
        (
            GOOD.replace(
                "fd_judge}", "fd_judge, requires: {metric: fvd, at_least: 1}}"
            ),
            "requires metric 'fvd'",
        ),
        (
            GOOD.replace(
                "fd_judge}", "fd_judge, requires: {metric: fcs, at_least: yes}}"
            ),
            "at_least must be a number",
        ),
    ],
)
def test_bad_claims_are_refused_naming_the_file_and_claim(
    tmp_path: Path, body: str, message: str
) -> None:
    path = claims_file(tmp_path, body)
    with pytest.raises(ValueError, match=message) as error:
        verdicts.read_claims(path, models=seeds.KEYS)
    assert str(path) in str(error.value) and "claim" in str(error.value)


def test_the_books_claims_point_at_models_and_measured_metrics() -> None:
    """Every tested claim names models of the book (two, or one against a bar) and a
    family each model's committed seed runs measured (so its verdict is computed, not
    left blank)."""
    claims = verdicts.read_claims(models=seeds.KEYS)
    assert len({c.id for c in claims}) == len(claims) >= 20
    assert {c.paper for c in claims} == {"G3AN", "AVLAE", "NAVS", "Residual vectors"}
    tested = [c for c in claims if c.test]
    assert tested, "no claim of vidlib/claims.yaml is tested by a run"
    for claim in tested:
        family = verdicts.BY_KEY[claim.test["metric"]]
        sides = ("model",) if "model" in claim.test else ("better", "than")
        for side in sides:
            model = claim.test[side]
            files = sorted(seeds.committed_file(model, 0).parent.glob("seed-*.json"))
            assert files, f"{claim.id}: no committed seed run of {model}"
            for path in files:
                metrics = read_results_file(path)["metrics"]
                assert verdicts.value(metrics, family) is not None, (
                    f"{claim.id}: {path} does not measure {family.label}"
                )


def test_judge_claim_reads_each_side_per_seed() -> None:
    claim = verdicts.read_claims(models=seeds.KEYS)[0]
    assert claim.test is not None
    family = verdicts.BY_KEY[claim.test["metric"]]
    key = {"fd_judge": "fd_judge_j", "is_judge_action": "is_judge_action"}.get(
        family.key, family.key + "_j"
    )
    good, bad = (1.0, 2.0) if family.better == "lower" else (2.0, 1.0)
    per_seed = {
        claim.test["better"]: {s: {key: {"value": good + s}} for s in (0, 1, 2)},
        claim.test["than"]: {s: {key: {"value": bad + s}} for s in (0, 1, 2)},
    }
    assert verdicts.judge_claim(claim, per_seed).status == "holds"
    per_seed[claim.test["than"]] = {0: {key: {"value": bad}}}
    assert verdicts.judge_claim(claim, per_seed).status == "no verdict"


def test_results_metrics_are_a_valid_results_file(tmp_path: Path) -> None:
    from vidlib.results import read_results, write_results

    entry = {"fd_judge_j": {"value": 10.0}}
    runs = {"mocogan": [run(0, entry), run(1, {"fd_judge_j": {"value": 12.0}})]}
    judged = {
        "a": verdicts.Verdict("holds", "x", (0, 1)),
        "b": verdicts.Verdict("untested", "why"),
    }
    metrics = verdicts.results_metrics(runs, judged)
    write_results(tmp_path, slug="results", profile="cpu", seed=0, metrics=metrics)
    written = read_results(tmp_path)["metrics"]
    assert written["mocogan_fd_judge_mean"]["value"] == 11.0
    assert written["mocogan_fd_judge_mean"]["n_seeds"] == 2
    assert written["claim_a"]["value"] == 1 and written["claim_b"]["value"] is None
