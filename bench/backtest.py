"""Benchmark: the cost-aware backtest against vectorbt's ``Portfolio.from_signals``.

Both sides run the same 1,000,000 bars of signals (four USD-quoted symbols × 250,000 H1 bars,
synthetic prices on the price grid, a fixed seed) in the same process:

- ours: ``models.backtest_bars.backtest_bars`` — lots sized from confidence by the worker's
  sizing code, filled at the next open after one bar of latency, paying the fill bar's
  spread on buys, fixed + range-proportional slippage and commission on every fill; it
  returns per-bar gross PnL and costs in the account currency.
- vectorbt: ``Portfolio.from_signals`` on the same signals (shifted to their fill bar,
  filled at the open), sizes, per-bar fee and slippage fractions. Its first call compiles
  (numba, ~4 s), so it is warmed up on a slice first; both sides report the best of
  ``--repeats`` runs. vectorbt is a bench-only dependency and is imported only here.

Checks, so neither side can be made cheap by doing less:
- with no costs both compute the same total PnL (rtol 1e-9): the signals are the same;
- the timed result equals the event-by-event reference (``tests/oracles/backtest_reference.py``, a
  plain Python loop, ~10 µs per bar) to 1e-9 per bar and in total, on every bar of the run
  (``--reference-bars`` limits it to each symbol's first bars for quick runs).

Run: ``.venv/bin/python bench/backtest.py [--bars N]``; writes the ``backtest`` entry of
``bench/results.json`` (figure = our seconds, baseline_figure = vectorbt's seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import best_of, write_entry
from data_contracts.symbols import lookup_spec
from models.backtest_bars import LotsBacktest, backtest_bars, backtest_lots
from models.costs import CostModel
from models.sizing import RiskBudget
from tests.oracles.backtest_reference import reference_lots

SYMBOLS = ("EURUSD", "GBPUSD", "AUDUSD", "NZDUSD")  # quoted in USD: one lot = 100,000 units
BASES = {"EURUSD": 1.10, "GBPUSD": 1.27, "AUDUSD": 0.72, "NZDUSD": 0.66}
_GRID = lookup_spec("EURUSD")  # every symbol here shares the USD-quoted majors' grid
POINT, DIGITS, CONTRACT = _GRID.point, _GRID.digits, _GRID.trade_contract_size
COSTS = CostModel(
    commission_per_lot=3.5, slippage_fixed_points=0.5, slippage_range_fraction=0.05, latency_bars=1
)


def generate(symbol: str, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Bid bars on the price grid and signed lots decided at each close.

    Signals come in runs (a change every ~20 bars on average, each run a different signal
    than the last) with one confidence per run, sized by ``RiskBudget`` as the worker sizes.
    """
    rng = np.random.default_rng([seed, *symbol.encode()])
    base = BASES[symbol]
    close = np.round(base * np.exp(np.cumsum(rng.normal(0.0, 0.001, n))), DIGITS)
    open_ = np.r_[base, close[:-1]]
    wick = np.round(np.abs(rng.normal(0.0, 0.0004 * base, (2, n))), DIGITS)
    bars = pd.DataFrame(
        {
            "time": pd.date_range("2000-01-03", periods=n, freq="h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "spread": rng.integers(2, 20, n).astype(np.float64),
        }
    )
    run = np.cumsum(rng.random(n) < 0.05)
    signal = np.cumsum(1 + rng.integers(0, 2, run[-1] + 1)) % 3 - 1  # runs always differ
    confidence = rng.choice([0.3, 0.55, 0.82, 1.0], run[-1] + 1)
    lots = RiskBudget(max_volume=1.0).lots(signal[run], confidence[run])
    return bars, lots


def vectorbt_inputs(
    bars: dict[str, pd.DataFrame], lots: dict[str, np.ndarray], costs: CostModel, *, free: bool
) -> dict[str, Any]:
    """``from_signals`` arguments for the same lots: each decision moved to its fill bar
    (1 + latency later) and filled at that bar's open; costs as per-bar fractions of price
    (commission as a fee, half the spread plus the fixed slippage as slippage), none if
    ``free``."""
    delay = 1 + costs.latency_bars
    target = np.column_stack([np.r_[np.zeros(delay), lots[s][:-delay]] for s in bars])
    open_ = np.column_stack([bars[s]["open"].to_numpy() for s in bars])
    args: dict[str, Any] = {
        "close": np.column_stack([bars[s]["close"].to_numpy() for s in bars]),
        "price": open_,
        "entries": target > 0,
        "exits": target <= 0,
        "short_entries": target < 0,
        "short_exits": target >= 0,
        "size": np.abs(target) * CONTRACT,
        "size_type": "amount",
        "init_cash": 1e12,
        "freq": "1h",
    }
    if not free:
        spread = np.column_stack([bars[s]["spread"].to_numpy() for s in bars])
        args["fees"] = costs.commission_per_lot / (CONTRACT * open_)
        args["slippage"] = (0.5 * spread + costs.slippage_fixed_points) * POINT / open_
    return args


def run_ours(bars: dict[str, pd.DataFrame], lots: dict[str, np.ndarray], costs: CostModel):
    return backtest_bars(bars, lots, costs=costs, points=dict.fromkeys(bars, POINT))


def check_reference(
    bars: dict[str, pd.DataFrame],
    lots: dict[str, np.ndarray],
    timed: dict[str, LotsBacktest],
    n: int,
) -> float:
    """Largest per-bar difference to the event-by-event reference on each symbol's first
    ``n`` bars (all of them: the timed result itself is checked)."""
    worst = 0.0
    for symbol, frame in bars.items():
        head = frame.iloc[:n]
        cols = [head[c].to_numpy() for c in ("open", "high", "low", "close", "spread")]
        kwargs = {"symbol": symbol, "point": POINT, "costs": COSTS}
        whole = n >= len(frame)
        fast = timed[symbol] if whole else backtest_lots(*cols, lots[symbol][:n], **kwargs)
        gross, cost = reference_lots(*cols, lots[symbol][:n].tolist(), **kwargs)
        for ours, ref in ((fast.sim.gross, gross), (fast.sim.cost, cost)):
            ref_arr = np.asarray(ref)
            diff = np.abs(ours - ref_arr)
            assert (diff <= 1e-9 * np.maximum(1.0, np.abs(ref_arr))).all(), symbol
            worst = max(worst, float(diff.max()))
        total_ref = float(np.sum(gross) - np.sum(cost))
        assert abs(fast.net_pnl - total_ref) <= 1e-9 * max(1.0, abs(total_ref)), symbol
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference-bars", type=int, default=None, help="per symbol; all if unset")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)

    per_symbol = args.bars // len(SYMBOLS)
    generated = {s: generate(s, per_symbol, args.seed) for s in SYMBOLS}
    bars = {s: b for s, (b, _) in generated.items()}
    lots = {s: lt for s, (_, lt) in generated.items()}
    total = per_symbol * len(SYMBOLS)
    vbt_args = vectorbt_inputs(bars, lots, COSTS, free=False)

    warm = {k: v[:1000] if isinstance(v, np.ndarray) else v for k, v in vbt_args.items()}
    started = time.perf_counter()
    vbt.Portfolio.from_signals(**warm).value()  # compiles the numba kernels
    compile_seconds = time.perf_counter() - started
    run_ours(
        {s: b.iloc[:1000] for s, b in bars.items()}, {s: x[:1000] for s, x in lots.items()}, COSTS
    )

    ours_seconds, ours = best_of(args.repeats, lambda: run_ours(bars, lots, COSTS))
    vbt_seconds, portfolio = best_of(args.repeats, lambda: vbt.Portfolio.from_signals(**vbt_args))
    vbt_value_seconds, _ = best_of(
        args.repeats, lambda: vbt.Portfolio.from_signals(**vbt_args).value()
    )

    free = CostModel(commission_per_lot=0.0, latency_bars=COSTS.latency_bars)
    no_spread = {s: b.assign(spread=0.0) for s, b in bars.items()}
    ours_free = sum(r.net_pnl for r in run_ours(no_spread, lots, free).values())
    free_args = vectorbt_inputs(bars, lots, COSTS, free=True)
    vbt_free = float(vbt.Portfolio.from_signals(**free_args).total_profit().sum())
    assert abs(ours_free - vbt_free) <= 1e-9 * abs(vbt_free), (ours_free, vbt_free)
    n_reference = min(args.reference_bars or per_symbol, per_symbol)
    reference_seconds, worst = best_of(1, lambda: check_reference(bars, lots, ours, n_reference))

    fills = sum(r.fills for r in ours.values())
    ratio = ours_seconds / vbt_seconds
    print(f"bars: {total:,} over {len(SYMBOLS)} symbols; fills: {fills:,}; vectorbt orders: "
          f"{int(portfolio.orders.count().sum()):,}")  # fmt: skip
    print(
        f"ours (backtest_bars):      {ours_seconds * 1e3:7.1f} ms  {total / ours_seconds:>14,.0f} bars/s"
    )
    print(f"vectorbt from_signals:     {vbt_seconds * 1e3:7.1f} ms  {total / vbt_seconds:>14,.0f} bars/s"
          f"  (first call, compiling: {compile_seconds:.1f} s)")  # fmt: skip
    print(
        f"vectorbt + value():        {vbt_value_seconds * 1e3:7.1f} ms  (per-bar equity, as ours returns)"
    )
    print(f"ratio ours / vectorbt:     {ratio:.2f}x (target ≤ 1)")
    print(f"net PnL ours: {sum(r.net_pnl for r in ours.values()):,.2f} USD; with no costs: ours "
          f"{ours_free:,.2f}, vectorbt {vbt_free:,.2f} (same signals, same fills)")  # fmt: skip
    print(
        f"reference (event by event, {n_reference * len(SYMBOLS):,} bars, "
        f"{reference_seconds:.1f} s): max |Δ| per bar {worst:.2e} USD"
    )
    if not args.no_write:
        write_entry(
            {
                "name": "backtest",
                "figure": ours_seconds,
                "unit": "seconds",
                "baseline": "vectorbt",
                "baseline_figure": vbt_seconds,
                "ratio": ratio,
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
