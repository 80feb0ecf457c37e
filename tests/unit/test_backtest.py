"""The backtest charges costs on every change of position, and only ever loses money to them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.backtest import backtest_signals, position_changes


def one_symbol(n: int) -> tuple[pd.Series, np.ndarray]:
    times = pd.Series(pd.date_range("2022-01-03", periods=n, freq="h", tz="UTC"))
    return times, np.array(["EURUSD"] * n, dtype=object)


def test_zero_cost_pnl_is_position_times_next_return() -> None:
    times, symbols = one_symbol(5)
    positions = np.array([1.0, 1.0, -1.0, 0.0, 1.0])
    returns = np.array([0.01, -0.02, 0.03, 0.01, -0.01])
    result = backtest_signals(times, symbols, positions, returns, np.zeros(5))
    np.testing.assert_allclose(result.gross_returns.to_numpy(), positions * returns)
    np.testing.assert_allclose(result.net_returns.to_numpy(), positions * returns)
    np.testing.assert_allclose(
        result.equity["equity_net"].to_numpy(), np.cumprod(1 + positions * returns)
    )


def test_each_change_of_position_pays_its_size_times_the_cost() -> None:
    times, symbols = one_symbol(4)
    positions = np.array([1.0, -1.0, -1.0, 0.0])
    cost = np.array([0.001, 0.002, 0.003, 0.004])
    result = backtest_signals(times, symbols, positions, np.zeros(4), cost)
    # open long (1 unit), flip to short (2 units), hold, close (1 unit)
    np.testing.assert_allclose(result.net_returns.to_numpy(), [-0.001, -0.004, 0.0, -0.004])
    assert result.total_cost == pytest.approx(0.009)


def test_a_position_open_at_the_end_of_a_symbols_data_is_closed_and_charged() -> None:
    times, symbols = one_symbol(3)
    result = backtest_signals(times, symbols, np.ones(3), np.zeros(3), np.full(3, 0.001))
    assert result.total_cost == pytest.approx(0.002)  # opened at the first bar, closed at the last


def test_position_changes_are_per_symbol() -> None:
    symbols = np.array(["A", "B", "A", "B"], dtype=object)
    np.testing.assert_array_equal(
        position_changes(np.array([1.0, -1.0, 1.0, 1.0]), symbols), [1.0, 1.0, 0.0, 2.0]
    )


def test_portfolio_weights_symbols_trading_at_the_same_time_equally() -> None:
    t = pd.Timestamp("2022-01-03", tz="UTC")
    times = pd.Series([t, t])
    symbols = np.array(["A", "B"], dtype=object)
    result = backtest_signals(
        times, symbols, np.array([1.0, 1.0]), np.array([0.02, 0.0]), np.zeros(2)
    )
    assert result.gross_returns.iloc[0] == 0.01


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(2, 60),
    seed=st.integers(0, 10_000),
    cost=st.floats(0.0, 0.01),
)
def test_costs_only_reduce_pnl(n: int, seed: int, cost: float) -> None:
    rng = np.random.default_rng(seed)
    times, symbols = one_symbol(n)
    positions = rng.choice([-1.0, 0.0, 1.0], n)
    returns = rng.normal(0, 0.01, n)
    free = backtest_signals(times, symbols, positions, returns, np.zeros(n))
    paid = backtest_signals(times, symbols, positions, returns, np.full(n, cost))
    assert (paid.net_returns <= free.net_returns + 1e-15).all()
    assert paid.equity["equity_net"].iloc[-1] <= free.equity["equity_net"].iloc[-1] + 1e-12
    np.testing.assert_allclose(paid.gross_returns, free.gross_returns)
