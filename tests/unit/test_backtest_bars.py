"""The backtest in lots and account currency books what a broker would, fill by fill."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.symbols import lookup_spec
from models.backtest_bars import backtest_bars, backtest_lots
from models.costs import CostModel
from tests.factories import make_replay_bars
from tests.oracles.backtest_reference import reference_lots

ROOT = Path(__file__).resolve().parents[2]


def _bars(n: int, seed: int, symbol: str = "EURUSD") -> dict[str, np.ndarray]:
    frame = make_replay_bars((symbol,), n=n, seed=seed)[symbol]
    return {c: frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "spread")}


def _run(bars: dict[str, np.ndarray], lots: np.ndarray, costs: CostModel, symbol: str = "EURUSD"):
    point = lookup_spec(symbol).point
    fast = backtest_lots(
        bars["open"], bars["high"], bars["low"], bars["close"], bars["spread"], lots,
        symbol=symbol, point=point, costs=costs,
    )  # fmt: skip
    gross, cost = reference_lots(
        bars["open"], bars["high"], bars["low"], bars["close"], bars["spread"], lots,
        symbol=symbol, point=point, costs=costs,
    )  # fmt: skip
    return fast, np.array(gross), np.array(cost)


def test_a_long_round_trip_pays_one_spread_two_slippages_and_two_commissions() -> None:
    bars = {
        "open": np.array([1.10000, 1.10010, 1.10050, 1.10040]),
        "high": np.array([1.10020, 1.10060, 1.10070, 1.10050]),
        "low": np.array([1.09990, 1.10000, 1.10030, 1.10030]),
        "close": np.array([1.10010, 1.10050, 1.10040, 1.10045]),
        "spread": np.array([5.0, 7.0, 9.0, 11.0]),
    }
    costs = CostModel(
        commission_per_lot=3.5, slippage_fixed_points=1.0, slippage_range_fraction=0.1
    )
    result = backtest_lots(bars["open"], bars["high"], bars["low"], bars["close"], bars["spread"],
                           np.array([0.5, 0.0, 0.0, 0.0]), symbol="EURUSD", point=1e-5,
                           costs=costs)  # fmt: skip
    # decided at bar 0's close: bought at bar 1's open (ask = bid + 7 points), slipped by
    # 1 + ceil(0.1 x 30-point range of bar 0) = 4 points; sold at bar 2's open, slipped by
    # 1 + 0.1 x 60 = 7 points.
    buy, sell = 1.10010 + 7e-5 + 4e-5, 1.10050 - 7e-5
    expected = (sell - buy) * 0.5 * 100_000 - 2 * 0.5 * 3.5
    assert result.net_pnl == pytest.approx(expected, abs=1e-9)
    assert result.spread_paid == pytest.approx(7e-5 * 0.5 * 100_000)
    assert result.slippage_paid == pytest.approx((4 + 7) * 1e-5 * 0.5 * 100_000)
    assert result.commission_paid == pytest.approx(3.5) and result.fills == 2


def test_a_position_still_open_at_the_end_is_closed_at_the_last_close() -> None:
    bars = _bars(30, seed=4)
    free = CostModel(commission_per_lot=0.0)
    result = backtest_lots(bars["open"], bars["high"], bars["low"], bars["close"], bars["spread"],
                           np.ones(30), symbol="EURUSD", point=1e-5, costs=free)  # fmt: skip
    held_from, to = bars["open"][1], bars["close"][-1]
    assert result.sim.gross.sum() == pytest.approx((to - held_from) * 100_000, abs=1e-6)
    assert result.sim.held[-1] == 0.0 and result.fills == 2


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 80),
    seed=st.integers(0, 10_000),
    latency=st.integers(0, 4),
    commission=st.floats(0.0, 10.0),
    fixed=st.floats(0.0, 5.0),
    fraction=st.floats(0.0, 0.5),
    symbol=st.sampled_from(["EURUSD", "USDJPY"]),
)
def test_vectorised_lots_backtest_equals_the_event_by_event_reference(
    n: int, seed: int, latency: int, commission: float, fixed: float, fraction: float, symbol: str
) -> None:
    costs = CostModel(
        commission_per_lot=commission,
        slippage_fixed_points=fixed,
        slippage_range_fraction=fraction,
        latency_bars=latency,
    )
    lots = np.random.default_rng(seed).choice([-1.0, -0.37, 0.0, 0.2, 1.0], n)
    fast, gross, cost = _run(_bars(n, seed, symbol), lots, costs, symbol)
    np.testing.assert_allclose(fast.sim.gross, gross, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.sim.cost, cost, rtol=1e-9, atol=1e-9)
    assert fast.net_pnl == pytest.approx(float(gross.sum() - cost.sum()), rel=1e-9, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), seed=st.integers(0, 10_000), latency=st.integers(0, 3))
def test_costs_never_increase_pnl_and_zero_costs_leave_gross(
    n: int, seed: int, latency: int
) -> None:
    bars = _bars(n, seed)
    lots = np.random.default_rng(seed).choice([-1.0, 0.0, 0.5, 1.0], n)
    spread_only, _, _ = _run(bars, lots, CostModel(commission_per_lot=0.0, latency_bars=latency))
    paid, _, _ = _run(bars, lots, CostModel(5.0, slippage_fixed_points=2, latency_bars=latency))
    spread = spread_only.spread_per_lot * spread_only.sim.bought
    np.testing.assert_allclose(spread_only.sim.net, spread_only.sim.gross - spread, atol=1e-12)
    assert spread_only.slippage_paid == 0.0 and spread_only.commission_paid == 0.0
    assert (paid.sim.net <= paid.sim.gross).all() and paid.net_pnl <= spread_only.net_pnl + 1e-9
    np.testing.assert_array_equal(paid.sim.gross, spread_only.sim.gross)


def test_with_no_spread_and_no_fees_net_equals_gross() -> None:
    bars = _bars(50, seed=9)
    bars["spread"][:] = 0.0
    lots = np.random.default_rng(9).choice([-1.0, 0.0, 1.0], 50)
    result, _, _ = _run(bars, lots, CostModel(commission_per_lot=0.0, latency_bars=2))
    np.testing.assert_array_equal(result.sim.net, result.sim.gross)


def test_backtest_bars_runs_each_symbol_with_its_point() -> None:
    frames = make_replay_bars(("EURUSD", "USDJPY"), n=40, seed=2)
    lots = {s: np.r_[np.ones(20), np.zeros(20)] for s in frames}
    out = backtest_bars(frames, lots, costs=CostModel(slippage_fixed_points=1.0))
    jpy = out["USDJPY"]
    # 1 point of slippage per fill on USDJPY is 0.001 yen x 100,000 / price in USD
    expected = 1e-3 * 100_000 / jpy.fill_price[[0, 20]]  # bought at row 0, sold at row 20
    assert jpy.slippage_paid == pytest.approx(expected.sum())
    with pytest.raises(ValueError, match="one per bar"):
        backtest_bars(frames, {s: np.ones(3) for s in frames}, costs=CostModel())


def test_vectorbt_is_imported_only_by_benchmarks() -> None:
    offenders = []
    for package in ("models", "serving", "flows", "data_contracts"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                )  # fmt: skip
                if any(name.split(".")[0] == "vectorbt" for name in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
