"""Behaviour of a retraining sweep and of the leakage canary on the synthetic market."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from data_contracts.synthetic import SyntheticMarket
from models.gates import GateThresholds, decide_promotion
from models.leakage import LEAKED_FEATURE, leak_canary_report
from models.metrics import deflated_sharpe_ratio
from models.strategies.lgbm_momentum import FEATURE_NAMES, STRATEGY
from models.training import (
    TrainConfig,
    TrainingOutcome,
    development_set,
    evaluate_walk_forward,
    fit_final,
    run_training,
    walk_forward,
)

SWEEP = [{"num_leaves": 7}, {"num_leaves": 15}, {"num_leaves": 31, "min_data_in_leaf": 100}]
FAST = dataclasses.replace(TrainConfig(), num_boost_round=60)


@pytest.fixture(scope="module")
def canary_outcome(market: SyntheticMarket) -> TrainingOutcome:
    config = dataclasses.replace(TrainConfig(), leak_canary=True)
    return run_training(STRATEGY, market.bars, config, points=market.points)


@pytest.fixture(scope="module")
def swept(market: SyntheticMarket) -> TrainingOutcome:
    return run_training(STRATEGY, market.bars, FAST, points=market.points, sweep=SWEEP)


def test_planted_future_return_dominates_importance_and_lifts_oof_scores(
    canary_outcome: TrainingOutcome,
) -> None:
    report = canary_outcome.leak_canary
    assert report is not None and report.detected
    assert report.importance_rank == 1
    assert report.importance_share > 0.5
    assert report.auc_jump > 0.2
    assert report.sharpe_jump > 0
    metrics = report.metrics()
    assert metrics["leak_canary_detected"] == 1.0
    assert metrics["leak_canary_auc_jump"] == pytest.approx(report.auc_jump)


def test_the_canary_never_reaches_the_model_that_is_registered(
    canary_outcome: TrainingOutcome, outcome: TrainingOutcome
) -> None:
    assert canary_outcome.booster.feature_name() == list(FEATURE_NAMES)
    assert canary_outcome.model_config["feature_names"] == list(FEATURE_NAMES)
    assert canary_outcome.booster_sha256 == outcome.booster_sha256
    assert canary_outcome.metrics == outcome.metrics
    assert outcome.leak_canary is None


def test_a_planted_column_of_plain_noise_is_not_reported_as_a_leak(
    market: SyntheticMarket,
) -> None:
    dev = development_set(STRATEGY, market.bars, FAST, points=market.points).dataset
    noise = np.random.default_rng(0).normal(size=len(dev))
    innocent = dataclasses.replace(dev, X=dev.X.assign(**{LEAKED_FEATURE: noise}))
    clean = evaluate_walk_forward(dev, walk_forward(dev, FAST), FAST)
    planted = evaluate_walk_forward(innocent, walk_forward(innocent, FAST), FAST)
    report = leak_canary_report(clean.metrics, planted.metrics, planted.walk_forward.importance())
    assert not report.detected
    assert abs(report.auc_jump) < 0.02
    assert report.importance_rank > 1


def test_sweep_registers_the_best_oof_sharpe_and_records_every_configuration(
    swept: TrainingOutcome, market: SyntheticMarket
) -> None:
    sharpes = [c["sharpe_net"] for c in swept.configurations]
    chosen = int(np.argmax(sharpes))
    assert [c["chosen"] for c in swept.configurations] == [i == chosen for i in range(3)]
    assert [c["overrides"] for c in swept.configurations] == SWEEP
    assert swept.metrics["sharpe_net"] == sharpes[chosen]
    assert swept.metrics["n_configurations"] == 3
    assert 0.0 <= swept.metrics["pbo"] <= 1.0
    assert swept.params["n_trials"] == 3
    assert swept.params["lgbm_num_leaves"] == SWEEP[chosen]["num_leaves"]

    config = FAST.with_overrides(SWEEP[chosen])
    dev = development_set(STRATEGY, market.bars, config, points=market.points)
    final = fit_final(dev.dataset, config.params, dev.cutoff.to_pydatetime(), num_boost_round=60)
    assert final.model_to_string() == swept.booster.model_to_string()


def test_the_chosen_deflated_sharpe_pays_for_every_configuration_tried(
    swept: TrainingOutcome,
) -> None:
    equity = swept.equity["equity_net"].to_numpy()
    returns = equity / np.concatenate([[1.0], equity[:-1]]) - 1.0
    assert swept.metrics["deflated_sharpe"] == pytest.approx(
        deflated_sharpe_ratio(returns, n_trials=3), abs=1e-9
    )
    assert swept.metrics["deflated_sharpe"] < deflated_sharpe_ratio(returns, n_trials=1)


def test_a_sweep_over_noise_labels_never_passes_the_gate(market: SyntheticMarket) -> None:
    config = dataclasses.replace(FAST, shuffle_labels=True)
    metrics = run_training(STRATEGY, market.bars, config, points=market.points, sweep=SWEEP).metrics
    assert abs(metrics["auc"] - 0.5) < 0.02
    assert metrics["deflated_sharpe"] < GateThresholds().min_deflated_sharpe
    decision = decide_promotion(metrics, None)
    assert not decision.passed
    assert any("deflated Sharpe" in r for r in decision.reasons if r.startswith("FAIL"))
