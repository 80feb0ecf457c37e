"""Sortino, turnover, cost share, deflated Sharpe and PBO agree with references and intuition."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from models.backtest import backtest_signals
from models.metrics import (
    cost_share,
    cscv_logits,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
    sharpe_standard_error,
    sortino_ratio,
    turnover,
)


def test_sortino_divides_by_the_downside_deviation_only() -> None:
    r = np.array([0.02, -0.01, 0.03, -0.02, 0.01])
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert sortino_ratio(r, 252) == pytest.approx(r.mean() / downside * math.sqrt(252))
    assert sortino_ratio(np.zeros(5), 252) == 0.0
    assert sortino_ratio(np.array([0.01, 0.02]), 252) == math.inf


def test_sortino_ignores_upside_volatility_that_sharpe_punishes() -> None:
    calm = np.array([0.01, -0.01] * 50)
    spiky = np.array([0.05, -0.01] * 50)
    assert sortino_ratio(spiky, 252) > sortino_ratio(calm, 252)


def test_turnover_matches_what_the_backtest_charges_for() -> None:
    times = pd.Series(pd.date_range("2023-01-02", periods=4, freq="h", tz="UTC").repeat(2))
    symbols = np.array(["A", "B"] * 4, dtype=object)
    positions = np.array([1, -1, 1, 0, -1, 0, 0, 1], dtype=float)
    result = backtest_signals(times, symbols, positions, np.zeros(8), np.full(8, 1e-4))
    # A: 1, 0, 2, 1 (entry, hold, flip, close); B: 1, 1, 0, 0 (its last decision never fills)
    assert turnover(positions, symbols) == pytest.approx(6 / 8)
    assert turnover(positions, symbols) == pytest.approx(result.turnover)
    assert turnover(np.array([1.0, 1.0, 1.0])) == pytest.approx(2 / 3)


def test_cost_share_is_costs_over_gross_pnl() -> None:
    gross = np.array([0.01, 0.02, -0.005])
    net = gross - np.array([0.002, 0.001, 0.003])
    assert cost_share(gross, net) == pytest.approx(0.006 / 0.025)
    assert cost_share(gross, gross) == 0.0
    assert cost_share(-gross, -gross - 0.001) == math.inf


def test_deflated_sharpe_reproduces_the_papers_worked_example() -> None:
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", section 5: annualised
    # SR 2.5 over 5 years of daily returns, 100 trials with annualised SR variance 0.5,
    # skew -3, kurtosis 10 → SR0 ≈ 0.1132 (per day) and DSR ≈ 0.9004.
    std = math.sqrt(0.5 / 250)
    assert expected_max_sharpe(100, std) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_from_moments(
        2.5 / math.sqrt(250), 1250, -3.0, 10.0, n_trials=100, trials_sharpe_std=std
    )
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_deflated_sharpe_of_returns_uses_their_own_moments() -> None:
    r = np.random.default_rng(5).standard_t(5, 3000) * 0.01 + 0.0005
    sr = r.mean() / r.std(ddof=1)
    z = (r - r.mean()) / r.std()
    expected = deflated_sharpe_from_moments(
        sr, r.size, float(np.mean(z**3)), float(np.mean(z**4)), n_trials=20, trials_sharpe_std=0.03
    )
    assert deflated_sharpe_ratio(r, n_trials=20, trials_sharpe_std=0.03) == pytest.approx(expected)
    assert deflated_sharpe_ratio(np.zeros(10), n_trials=5) == 0.0


def test_best_of_many_noise_strategies_looks_significant_alone_but_not_deflated() -> None:
    returns = np.random.default_rng(1).normal(0.0, 0.01, (1000, 100))
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    best = returns[:, np.argmax(sharpes)]
    assert deflated_sharpe_ratio(best, n_trials=1) > 0.95  # what a naive PSR would report
    deflated = deflated_sharpe_ratio(best, n_trials=100, trials_sharpe_std=sharpes.std(ddof=1))
    assert deflated < 0.6
    assert deflated_sharpe_ratio(best, n_trials=100) < 0.6  # default: the Sharpe's std error
    assert sharpe_standard_error(best) == pytest.approx(1 / math.sqrt(999), rel=0.05)


def brute_force_logits(returns: np.ndarray, n_subsets: int) -> np.ndarray:
    """CSCV the slow, literal way: concatenate the blocks, rank with scipy."""
    rows = returns.shape[0] // n_subsets
    blocks = [returns[i * rows : (i + 1) * rows] for i in range(n_subsets)]
    out = []
    for chosen in combinations(range(n_subsets), n_subsets // 2):
        in_sample = np.vstack([blocks[i] for i in chosen])
        oos = np.vstack([blocks[i] for i in range(n_subsets) if i not in chosen])
        is_sr = in_sample.mean(0) / in_sample.std(0, ddof=1)
        oos_sr = oos.mean(0) / oos.std(0, ddof=1)
        omega = rankdata(oos_sr)[np.argmax(is_sr)] / (returns.shape[1] + 1)
        out.append(math.log(omega / (1 - omega)))
    return np.array(out)


def test_cscv_logits_match_a_literal_implementation() -> None:
    returns = np.random.default_rng(2).normal(0.0002, 0.01, (123, 7))
    returns[:, 4] = returns[:, 2]  # a tie between two configurations
    np.testing.assert_allclose(cscv_logits(returns, 6), brute_force_logits(returns, 6), atol=1e-9)


def test_pbo_is_a_coin_flip_when_every_configuration_is_noise() -> None:
    pbos = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0.0, 0.01, (400, 10)), 8
        )
        for seed in range(20)
    ]
    assert 0.35 < np.mean(pbos) < 0.65


def test_pbo_is_near_zero_when_one_configuration_truly_is_better() -> None:
    returns = np.random.default_rng(4).normal(0.0, 0.01, (1600, 20))
    returns[:, 3] += 0.004
    assert probability_of_backtest_overfitting(returns, 16) < 0.05


def test_pbo_is_near_one_when_in_sample_winners_lose_out_of_sample() -> None:
    # Each configuration earns in one block and loses it back in its twin: whatever wins
    # in-sample has its losing twin out of sample.
    rng = np.random.default_rng(6)
    edge = np.kron(np.eye(4), np.ones((50, 1))) * 0.003
    returns = rng.normal(0.0, 0.001, (400, 4)) + np.vstack([edge, -edge])
    assert probability_of_backtest_overfitting(returns, 8) > 0.9


def test_pbo_refuses_bad_shapes() -> None:
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), 5)
    with pytest.raises(ValueError, match="N >= 2"):
        probability_of_backtest_overfitting(np.zeros((100, 1)), 4)
    with pytest.raises(ValueError, match="blocks"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), 8)
