"""The promotion gate says no to coin flips, money losers and regressions, with reasons."""

from __future__ import annotations

import math

import pytest

from models.gates import GateThresholds, decide_promotion, failed_checks

# what run_training reports besides AUC and Sharpe, at values that pass
HONEST = {"n_folds": 5.0, "deflated_sharpe": 0.99, "cost_share": 0.6}
GOOD = {"auc": 0.56, "sharpe_net": 2.0, **HONEST}


def test_good_candidate_without_champion_passes() -> None:
    decision = decide_promotion(GOOD, None)
    assert decision.passed
    assert all(reason.startswith("ok") for reason in decision.reasons)


def test_shuffled_label_metrics_fail_on_auc_and_sharpe() -> None:
    decision = decide_promotion({"auc": 0.497, "sharpe_net": -11.0, **HONEST}, None)
    assert not decision.passed
    assert sum(reason.startswith("FAIL") for reason in decision.reasons) == 2


def test_candidate_much_worse_than_champion_fails() -> None:
    decision = decide_promotion({"auc": 0.53, "sharpe_net": 0.5, **HONEST}, GOOD)
    assert not decision.passed
    assert any("champion" in reason and reason.startswith("FAIL") for reason in decision.reasons)


def test_candidate_slightly_worse_than_champion_passes_within_margin() -> None:
    assert decide_promotion({"auc": 0.555, "sharpe_net": 1.8, **HONEST}, GOOD).passed


def test_missing_metric_fails_instead_of_passing_silently() -> None:
    assert not decide_promotion({"auc": 0.6}, None).passed
    for name in HONEST:
        without = {k: v for k, v in GOOD.items() if k != name}
        assert not decide_promotion(without, None).passed, name


@pytest.mark.parametrize(
    ("metric", "value", "words"),
    [
        ("n_folds", 2.0, "folds"),
        ("deflated_sharpe", 0.9, "deflated Sharpe"),
        ("cost_share", 0.95, "gross PnL"),
        ("cost_share", math.inf, "gross PnL"),
    ],
)
def test_each_new_check_fails_alone_and_says_why(metric: str, value: float, words: str) -> None:
    decision = decide_promotion({**GOOD, metric: value}, None)
    assert not decision.passed
    failed = [reason for reason in decision.reasons if reason.startswith("FAIL")]
    assert len(failed) == 1 and words in failed[0]


def test_thresholds_are_configurable() -> None:
    strict = GateThresholds(min_auc=0.6)
    assert not decide_promotion(GOOD, None, strict).passed
    assert not decide_promotion(GOOD, None, GateThresholds(min_folds=6)).passed
    assert not decide_promotion(GOOD, None, GateThresholds(max_cost_share=0.5)).passed
    assert decide_promotion(
        {**GOOD, "deflated_sharpe": 0.9}, None, GateThresholds(min_deflated_sharpe=0.8)
    ).passed


SWEPT = {**GOOD, "n_configurations": 4.0}


def test_a_sweep_whose_choice_is_a_coin_flip_fails_on_pbo() -> None:
    decision = decide_promotion({**SWEPT, "pbo": 0.55}, None)
    assert not decision.passed
    failed = [reason for reason in decision.reasons if reason.startswith("FAIL")]
    assert len(failed) == 1 and "PBO" in failed[0] and "4 configurations" in failed[0]
    assert decide_promotion({**SWEPT, "pbo": 0.1}, None).passed


def test_pbo_is_checked_only_when_several_configurations_were_tried() -> None:
    single = decide_promotion({**GOOD, "n_configurations": 1.0, "pbo": 0.9}, None)
    assert single.passed
    assert not any("PBO" in reason for reason in single.reasons)
    assert not decide_promotion(SWEPT, None).passed, "a sweep without its PBO fails"
    assert decide_promotion({**SWEPT, "pbo": 0.9}, None, GateThresholds(max_pbo=None)).passed


def test_candidate_sharpe_far_below_the_champions_fails_even_when_everything_else_passes() -> None:
    champion = {**GOOD, "sharpe_net": 3.0}
    decision = decide_promotion({**GOOD, "sharpe_net": 2.4}, champion)
    assert not decision.passed
    failed = [reason for reason in decision.reasons if reason.startswith("FAIL")]
    assert len(failed) == 1 and "champion" in failed[0] and "Sharpe" in failed[0]
    assert decide_promotion({**GOOD, "sharpe_net": 2.6}, champion).passed


def test_costs_without_gross_profit_are_said_in_words_not_as_inf() -> None:
    decision = decide_promotion({**GOOD, "cost_share": math.inf}, None)
    failed = [reason for reason in decision.reasons if reason.startswith("FAIL")]
    assert failed == [
        "FAIL: gross PnL is not positive: the model loses money before costs, so there is no "
        "edge for costs to take a share of (at most 0.90 allowed)"
    ]
    assert "inf" not in failed[0]


def test_a_missing_cost_share_is_named_as_missing() -> None:
    without = {k: v for k, v in GOOD.items() if k != "cost_share"}
    failed = [r for r in decide_promotion(without, None).reasons if r.startswith("FAIL")]
    assert failed == ["FAIL: cost share of gross PnL is missing (at most 0.90 allowed)"]


def test_a_first_version_is_judged_on_the_absolute_checks_alone() -> None:
    """No champion: every absolute check still applies, none against a champion appears."""
    decision = decide_promotion({"auc": 0.50, "sharpe_net": -4.8, **HONEST}, None)
    assert not decision.passed
    assert not any("champion" in reason for reason in decision.reasons)
    assert len(failed_checks(decision)) == 2
