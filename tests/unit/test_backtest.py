"""The backtest charges costs on every change of position, and only ever loses money to them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.backtest import backtest_signals, position_changes, simulate, traded_units
from tests.oracles.backtest_reference import reference_panel


def one_symbol(n: int) -> tuple[pd.Series, np.ndarray]:
    times = pd.Series(pd.date_range("2022-01-03", periods=n, freq="h", tz="UTC"))
    return times, np.array(["EURUSD"] * n, dtype=object)


def test_zero_cost_pnl_is_position_times_next_return_until_the_last_row() -> None:
    times, symbols = one_symbol(5)
    positions = np.array([1.0, 1.0, -1.0, 0.0, 1.0])
    returns = np.array([0.01, -0.02, 0.03, 0.01, -0.01])
    result = backtest_signals(times, symbols, positions, returns, np.zeros(5))
    held = np.array([1.0, 1.0, -1.0, 0.0, 0.0])  # the last row ends flat: nothing fills after it
    np.testing.assert_allclose(result.gross_returns.to_numpy(), held * returns)
    np.testing.assert_allclose(result.net_returns.to_numpy(), held * returns)
    np.testing.assert_allclose(
        result.equity["equity_net"].to_numpy(), np.cumprod(1 + held * returns)
    )


def test_each_change_of_position_pays_its_size_times_the_cost() -> None:
    times, symbols = one_symbol(4)
    positions = np.array([1.0, -1.0, -1.0, 0.0])
    cost = np.array([0.001, 0.002, 0.003, 0.004])
    result = backtest_signals(times, symbols, positions, np.zeros(4), cost)
    # open long (1 unit), flip to short (2 units), hold, close (1 unit)
    np.testing.assert_allclose(result.net_returns.to_numpy(), [-0.001, -0.004, 0.0, -0.004])
    assert result.total_cost == pytest.approx(0.009)


def test_the_spread_is_paid_on_buys_only_so_a_round_trip_pays_it_once() -> None:
    times, symbols = one_symbol(4)
    spread = np.array([0.001, 0.002, 0.003, 0.004])
    long_trip = backtest_signals(times, symbols, [1.0, 1.0, 0.0, 0.0], np.zeros(4), 0.0, spread)
    short_trip = backtest_signals(times, symbols, [-1.0, -1.0, 0.0, 0.0], np.zeros(4), 0.0, spread)
    assert long_trip.total_cost == pytest.approx(0.001)  # bought at row 0, sold for free
    assert short_trip.total_cost == pytest.approx(0.003)  # sold free, bought back at row 2


def test_a_position_open_at_the_end_of_a_symbols_data_is_closed_and_charged() -> None:
    times, symbols = one_symbol(3)
    result = backtest_signals(times, symbols, np.ones(3), np.zeros(3), np.full(3, 0.001))
    assert result.total_cost == pytest.approx(0.002)  # opened at the first bar, closed at the last


def test_latency_fills_each_decision_later_within_its_own_symbol() -> None:
    symbols = np.array(["A", "B"] * 4, dtype=object)
    targets = np.array([1.0, -1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    sim_rows = traded_units(targets, symbols, latency_bars=1)
    # A decides 1, 0, 1, 0 → holds 0, 1, 0, (end) 0; B decides -1, 1, 1, 0 → 0, -1, 1, 0
    np.testing.assert_allclose(sim_rows, [0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 0.0, 1.0])


def test_position_changes_are_per_symbol() -> None:
    symbols = np.array(["A", "B", "A", "B"], dtype=object)
    np.testing.assert_array_equal(
        position_changes(np.array([1.0, -1.0, 1.0, 1.0]), symbols), [1.0, 1.0, 0.0, 2.0]
    )


def test_portfolio_weights_symbols_trading_at_the_same_time_equally() -> None:
    t = pd.Timestamp("2022-01-03", tz="UTC")
    times = pd.Series([t, t, t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=1)])
    symbols = np.array(["A", "B", "A", "B"], dtype=object)
    result = backtest_signals(
        times, symbols, np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.02, 0.0, 0.0, 0.0]), 0.0
    )
    assert result.gross_returns.iloc[0] == 0.01


def test_naive_times_are_read_as_utc() -> None:
    times = pd.Series(pd.date_range("2022-01-03", periods=3, freq="h"))
    result = backtest_signals(times, np.array(["A"] * 3, dtype=object), np.ones(3), np.zeros(3), 0)
    assert str(result.gross_returns.index.tz) == "UTC"
    assert result.gross_returns.index[0] == pd.Timestamp("2022-01-03", tz="UTC")


def _panel(seed: int, n_times: int, n_symbols: int) -> dict[str, np.ndarray]:
    """A random panel sorted by time; some symbols miss some times (gaps, delistings)."""
    rng = np.random.default_rng(seed)
    grid = pd.date_range("2022-01-03", periods=n_times, freq="h", tz="UTC")
    times, symbols = np.meshgrid(np.arange(n_times), [f"S{i}" for i in range(n_symbols)])
    keep = rng.random(times.size) < 0.85
    order = np.argsort(times.ravel()[keep], kind="stable")
    n = int(keep.sum())
    return {
        "times": np.asarray(grid[times.ravel()[keep][order]]),
        "symbols": symbols.ravel()[keep][order].astype(object),
        "positions": rng.choice([-1.0, -0.5, 0.0, 0.3, 1.0], n),
        "next_returns": rng.normal(0, 0.01, n),
        "trade_cost": rng.uniform(0, 1e-3, n),
        "buy_cost": rng.uniform(0, 1e-3, n),
    }


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_times=st.integers(1, 40),
    n_symbols=st.integers(1, 4),
    latency=st.integers(0, 3),
)
def test_vectorised_backtest_equals_the_event_by_event_reference(
    seed: int, n_times: int, n_symbols: int, latency: int
) -> None:
    panel = _panel(seed, n_times, n_symbols)
    if panel["positions"].size == 0:
        return
    result = backtest_signals(**panel, latency_bars=latency)
    times, gross, net = reference_panel(**panel, latency_bars=latency)
    assert list(result.gross_returns.index.asi8) == list(pd.DatetimeIndex(times).asi8)
    np.testing.assert_allclose(result.gross_returns.to_numpy(), gross, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.net_returns.to_numpy(), net, rtol=1e-9, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 60), seed=st.integers(0, 10_000), cost=st.floats(0.0, 0.01))
def test_costs_only_reduce_pnl(n: int, seed: int, cost: float) -> None:
    rng = np.random.default_rng(seed)
    times, symbols = one_symbol(n)
    positions = rng.choice([-1.0, 0.0, 1.0], n)
    returns = rng.normal(0, 0.01, n)
    free = backtest_signals(times, symbols, positions, returns, np.zeros(n))
    paid = backtest_signals(times, symbols, positions, returns, np.full(n, cost), np.full(n, cost))
    assert (paid.net_returns <= free.net_returns + 1e-15).all()
    assert paid.equity["equity_net"].iloc[-1] <= free.equity["equity_net"].iloc[-1] + 1e-12
    np.testing.assert_allclose(paid.gross_returns, free.gross_returns)
    np.testing.assert_array_equal(free.net_returns, free.gross_returns)  # zero costs: net = gross


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 50), seed=st.integers(0, 10_000), latency=st.integers(0, 5))
def test_latency_is_the_undelayed_backtest_of_targets_shifted_by_latency(
    n: int, seed: int, latency: int
) -> None:
    rng = np.random.default_rng(seed)
    targets, move = rng.normal(size=n), rng.normal(size=n)
    buy, trade = rng.uniform(0, 0.1, n), rng.uniform(0, 0.1, n)
    delayed = simulate(targets, move, buy, trade, latency_bars=latency)
    shifted = np.r_[np.zeros(latency), targets][:n]
    undelayed = simulate(shifted, move, buy, trade, latency_bars=0)
    np.testing.assert_array_equal(delayed.held, undelayed.held)
    np.testing.assert_array_equal(delayed.net, undelayed.net)
    assert delayed.held[-1] == 0.0
