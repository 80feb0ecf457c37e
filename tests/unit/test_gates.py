"""The promotion gate says no to coin flips, money losers and regressions, with reasons."""

from __future__ import annotations

from models.gates import GateThresholds, decide_promotion

GOOD = {"auc": 0.56, "sharpe_net": 2.0}


def test_good_candidate_without_champion_passes() -> None:
    decision = decide_promotion(GOOD, None)
    assert decision.passed
    assert all(reason.startswith("ok") for reason in decision.reasons)


def test_shuffled_label_metrics_fail_on_auc_and_sharpe() -> None:
    decision = decide_promotion({"auc": 0.497, "sharpe_net": -11.0}, None)
    assert not decision.passed
    assert sum(reason.startswith("FAIL") for reason in decision.reasons) == 2


def test_candidate_much_worse_than_champion_fails() -> None:
    decision = decide_promotion({"auc": 0.53, "sharpe_net": 0.5}, GOOD)
    assert not decision.passed
    assert any("champion" in reason and reason.startswith("FAIL") for reason in decision.reasons)


def test_candidate_slightly_worse_than_champion_passes_within_margin() -> None:
    assert decide_promotion({"auc": 0.555, "sharpe_net": 1.8}, GOOD).passed


def test_missing_metric_fails_instead_of_passing_silently() -> None:
    assert not decide_promotion({"auc": 0.6}, None).passed


def test_thresholds_are_configurable() -> None:
    strict = GateThresholds(min_auc=0.6)
    assert not decide_promotion(GOOD, None, strict).passed
