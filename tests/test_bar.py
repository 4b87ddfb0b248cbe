"""The bar of vidlib.bar, on hand-made metrics entries."""

from __future__ import annotations

from vidlib.bar import bar, bar_rows, report, shares_table, verdict

P = "judge_shapes32x8_abcdef12"


def entry(value: float) -> dict:
    return {"value": value, "protocol": "test"}


def metrics(**overrides: float) -> dict:
    values = {
        f"fd_{P}": 240.0,
        f"fd_{P}_train_vs_test_real": 50.0,
        "is_judge_action": 3.3,
        "is_judge_action_real": 4.0,
        "is_judge_shape": 2.0,
        "is_judge_shape_real": 2.9,
        f"appearance_kept_{P}": 0.85,
        f"action_kept_{P}": 0.79,
        f"mocogan_fd_{P}": 1000.0,
        f"mocogan_appearance_kept_{P}": 0.9,
    }
    return {k: entry(v) for k, v in (values | overrides).items()}


def verdicts(criteria) -> dict[str, bool | None]:
    return {c.check: c.met for c in criteria}


def test_each_check_against_its_threshold() -> None:
    criteria = bar(metrics())
    assert verdicts(criteria) == {
        "judge-feature distance": True,  # 240 <= 5 x 50
        "judge IS of action, ÷ real clips' IS": True,  # 3.3 / 4 = 0.825
        "judge IS of shape, ÷ real clips' IS": False,  # 2 / 2.9 = 0.69
        "appearance kept over a motion swap": True,
        "action kept over an appearance swap": False,  # 0.79 < 0.8
    }
    fd = criteria[0]
    assert fd.threshold == 250.0 and fd.value == 240.0
    assert abs(criteria[1].value - 3.3 / 4.0) < 1e-12


def test_fd_just_above_the_bar_is_missed() -> None:
    assert bar(metrics(**{f"fd_{P}": 250.5}))[0].met is False


def test_a_compared_models_entries_by_prefix() -> None:
    criteria = bar(metrics(), prefix="mocogan_")
    assert criteria[0].value == 1000.0 and criteria[0].met is False
    by_check = {c.check: c for c in criteria}
    assert by_check["appearance kept over a motion swap"].value == 0.9
    # the compared run has no action_kept and no IS: listed as not measured
    assert by_check["action kept over an appearance swap"].met is None
    assert by_check["judge IS of action, ÷ real clips' IS"].met is None


def test_unmeasured_checks_are_listed() -> None:
    criteria = bar({}, disentangled=False, conditional=True, exchange=True)
    assert [c.check for c in criteria] == [
        "judge-feature distance",
        "judge IS of action, ÷ real clips' IS",
        "action judged = requested category",
        "exchange, unseen cells: action right",
        "exchange, unseen cells: shape right",
        "exchange, unseen cells: color right",
    ]
    assert all(c.met is None for c in criteria)
    assert bar_rows(criteria)[0][1] == "not measured"


def test_conditional_and_exchange_checks() -> None:
    m = metrics(
        **{
            f"action_accuracy_{P}": 0.81,
            "exchange_held_out_cells_NAVS_action_accuracy": 0.9,
            "exchange_held_out_cells_NAVS_shape_accuracy": 0.5,
            "exchange_held_out_cells_NAVS_color_accuracy": 0.8,
        }
    )
    found = verdicts(bar(m, conditional=True, exchange=True))
    assert found["action judged = requested category"] is True
    assert found["exchange, unseen cells: action right"] is True
    assert found["exchange, unseen cells: shape right"] is False
    assert found["exchange, unseen cells: color right"] is True
    assert bar_rows(bar(m))[0] == [
        "judge-feature distance",
        "240",
        "<= 250 (5 × real floor 50)",
        "met",
    ]


def test_verdict_names_what_is_missed_and_unmeasured() -> None:
    assert verdict(
        bar(metrics(**{f"action_kept_{P}": 0.9, "is_judge_shape": 2.5}))
    ) == ("meets all 5 checks of the bar")
    text = verdict(bar(metrics(), conditional=True))
    assert text == (
        "misses 2 of 6 checks: judge IS of shape, ÷ real clips' IS (0.69, bar >= 0.8);"
        " action kept over an appearance swap (0.79, bar >= 0.8), and did not measure:"
        " action judged = requested category"
    )


def test_report_wraps_the_verdict() -> None:
    text = report("MoCoGAN (cpu, 1000 steps)", bar(metrics()), width=60)
    assert text.startswith("MoCoGAN (cpu, 1000 steps) misses 2 of 5 checks:")
    assert text.endswith(".") and all(len(line) <= 60 for line in text.splitlines())
    assert len(text.splitlines()) > 1


def test_shares_table_puts_generated_beside_real() -> None:
    generated = {"shape": {"circle": 0.8, "square": 0.2}}
    real = {"shape": {"circle": 0.5, "square": 0.5}}
    html = shares_table(generated, real).data
    assert html.index("circle") < html.index("80%") < html.index("50%")
    assert html.index("square") < html.index("20%")


def test_a_value_just_under_the_bar_does_not_read_as_the_bar() -> None:
    (criterion,) = [
        c
        for c in bar(metrics(**{"is_judge_action": 0.7996 * 4.0}))
        if c.check.startswith("judge IS of action")
    ]
    assert criterion.met is False
    assert criterion.row()[1] == "0.7996"
    assert "(0.7996, bar >= 0.8)" in verdict([criterion])
    assert bar(metrics())[0].row()[1] == "240"  # three digits when they are clear
