"""Behavioural tests of the slice's model on the default synthetic market."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_contracts.synthetic import SyntheticMarket
from models.dataset import build_dataset
from models.features import FEATURE_NAMES
from models.gates import decide_promotion
from models.metrics import auc
from models.training import TrainConfig, TrainingOutcome, fit_final


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
    data = build_dataset(market.bars, horizon=TrainConfig().horizon, points=market.points)
    after = (data.times >= pd.Timestamp(market.regime_change_at) + pd.Timedelta(days=3)).to_numpy()
    proba = outcome.booster.predict(data.X[after].to_numpy())
    assert auc(data.y[after], proba) < 0.5


def test_training_is_deterministic(market: SyntheticMarket) -> None:
    config = TrainConfig()
    data = build_dataset(market.bars, horizon=config.horizon, points=market.points)
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
