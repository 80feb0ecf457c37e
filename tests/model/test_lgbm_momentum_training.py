"""Behavioural tests of the slice's model on the default synthetic market."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from data_contracts.synthetic import SyntheticMarket
from models.dataset import build_dataset
from models.gates import GateThresholds, decide_promotion
from models.metrics import auc, deflated_sharpe_ratio
from models.strategies.lgbm_momentum import FEATURE_NAMES, STRATEGY
from models.training import TrainConfig, TrainingOutcome, fit_final, run_training


def test_default_model_reaches_weak_but_real_out_of_fold_auc(outcome: TrainingOutcome) -> None:
    assert 0.52 <= outcome.metrics["auc"] <= 0.60
    assert outcome.metrics["n_folds"] == TrainConfig().n_splits
    assert all(0.5 < fold["auc"] < 0.65 for fold in outcome.fold_metrics)


def test_shuffled_labels_give_coin_flip_auc(shuffled_outcome: TrainingOutcome) -> None:
    assert 0.48 <= shuffled_outcome.metrics["auc"] <= 0.52


def test_gate_passes_real_model_and_rejects_shuffled_labels(
    outcome: TrainingOutcome, shuffled_outcome: TrainingOutcome
) -> None:
    assert decide_promotion(outcome.metrics, None).passed
    rejected = decide_promotion(shuffled_outcome.metrics, None)
    assert not rejected.passed
    assert any("AUC" in reason and reason.startswith("FAIL") for reason in rejected.reasons)


def test_real_model_earns_after_costs_but_less_than_before(outcome: TrainingOutcome) -> None:
    assert outcome.metrics["sharpe_net"] > 0
    assert outcome.metrics["sharpe_net"] < outcome.metrics["sharpe_gross"]
    equity = outcome.equity
    assert list(equity.columns) == ["time", "equity_gross", "equity_net"]
    assert (equity["equity_net"] <= equity["equity_gross"] + 1e-12).all()


def test_final_fit_and_drift_reference_end_before_the_hold_out(
    outcome: TrainingOutcome, market: SyntheticMarket
) -> None:
    assert list(outcome.train_features.columns) == list(FEATURE_NAMES)
    assert pd.Timestamp(outcome.holdout_start) < pd.Timestamp(market.regime_change_at)
    assert pd.Timestamp(outcome.oof["time"].max()) < pd.Timestamp(outcome.holdout_start)
    assert outcome.model_config["threshold"] == TrainConfig().threshold


def test_momentum_model_loses_its_edge_after_the_regime_change(
    outcome: TrainingOutcome, market: SyntheticMarket
) -> None:
    data = build_dataset(STRATEGY, market.bars, horizon=TrainConfig().horizon, points=market.points)
    after = (data.times >= pd.Timestamp(market.regime_change_at) + pd.Timedelta(days=3)).to_numpy()
    proba = outcome.booster.predict(data.X[after].to_numpy())
    assert auc(data.y[after], proba) < 0.5


def test_training_is_deterministic(market: SyntheticMarket) -> None:
    config = TrainConfig()
    data = build_dataset(STRATEGY, market.bars, horizon=config.horizon, points=market.points)
    until = data.times.iloc[len(data) // 3].to_pydatetime()
    first = fit_final(data, config.params, until, num_boost_round=30)
    second = fit_final(data, config.params, until, num_boost_round=30)
    assert first.model_to_string() == second.model_to_string()
    sample = data.X.iloc[:500].to_numpy()
    np.testing.assert_array_equal(first.predict(sample), second.predict(sample))


def test_outcome_is_ready_for_a_tracker(outcome: TrainingOutcome) -> None:
    assert all(isinstance(value, float) for fold in outcome.fold_metrics for value in fold.values())
    assert all(isinstance(value, float) for value in outcome.metrics.values())
    assert len(outcome.fold_bounds) == len(outcome.fold_metrics)
    assert all(isinstance(v, (str, int, float, bool)) for v in outcome.params.values())
    assert len(outcome.train_labels) == len(outcome.train_features)
    assert list(outcome.equity.columns) == ["time", "equity_gross", "equity_net"]
    assert len(outcome.booster_sha256) == 64


def net_returns_of(outcome: TrainingOutcome) -> np.ndarray:
    """Per-time OOF net returns, recovered from the compounded equity curve."""
    equity = outcome.equity["equity_net"].to_numpy()
    return np.diff(np.concatenate([[1.0], equity])) / np.concatenate([[1.0], equity[:-1]])


def test_outcome_reports_honest_metrics_overall_and_per_fold(outcome: TrainingOutcome) -> None:
    honest = {"sortino", "turnover", "cost_share", "deflated_sharpe"}
    assert honest <= set(outcome.metrics)
    assert all(honest <= set(fold) for fold in outcome.fold_metrics)
    assert outcome.metrics["sortino"] > outcome.metrics["sharpe_net"] > 0
    assert 0.0 < outcome.metrics["cost_share"] < 1.0
    assert outcome.params["n_trials"] == 1


def test_deflated_sharpe_is_that_of_the_oof_net_returns_and_falls_with_trials(
    outcome: TrainingOutcome,
) -> None:
    returns = net_returns_of(outcome)
    one = deflated_sharpe_ratio(returns, n_trials=1)
    assert one == pytest.approx(outcome.metrics["deflated_sharpe"], abs=1e-9)
    assert deflated_sharpe_ratio(returns, n_trials=50) < one
    swept = {**outcome.metrics, "deflated_sharpe": deflated_sharpe_ratio(returns, n_trials=500)}
    decision = decide_promotion(swept, None)
    assert not decision.passed
    assert any("deflated Sharpe" in r for r in decision.reasons if r.startswith("FAIL"))


def test_gate_passes_the_default_model_on_every_new_check(outcome: TrainingOutcome) -> None:
    decision = decide_promotion(outcome.metrics, None)
    assert decision.passed
    assert any(r.startswith("ok") and "deflated Sharpe" in r for r in decision.reasons)
    assert any(r.startswith("ok") and "gross PnL" in r for r in decision.reasons)


def test_noise_labels_never_get_a_passing_deflated_sharpe(
    shuffled_outcome: TrainingOutcome,
) -> None:
    metrics = shuffled_outcome.metrics
    assert 0.48 <= metrics["auc"] <= 0.52
    threshold = GateThresholds().min_deflated_sharpe
    assert metrics["deflated_sharpe"] < threshold
    assert all(fold["deflated_sharpe"] < threshold for fold in shuffled_outcome.fold_metrics)
    decision = decide_promotion(metrics, None)
    failed = [r for r in decision.reasons if r.startswith("FAIL")]
    assert any("deflated Sharpe" in r for r in failed)
    assert any("gross PnL" in r for r in failed)  # no gross edge to pay costs from


@pytest.mark.parametrize("seed", [1, 3])
def test_noise_labels_fail_the_gate_whatever_the_shuffle(
    market: SyntheticMarket, seed: int
) -> None:
    config = dataclasses.replace(TrainConfig(), shuffle_labels=True, seed=seed)
    metrics = run_training(STRATEGY, market.bars, config, points=market.points).metrics
    assert abs(metrics["auc"] - 0.5) < 0.02
    assert metrics["deflated_sharpe"] < GateThresholds().min_deflated_sharpe
    assert not decide_promotion(metrics, None).passed


def test_n_trials_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="n_trials"):
        TrainConfig(n_trials=0)
