"""The backtest in lots and account currency, on bars: what a replay on SimTerminal books.

Row k of a symbol's bars is the fill of the decision made at the close of bar k - latency,
at the open of bar k + 1 (the bid; the row's ``fill_price``), exactly where SimTerminal fills
a market order sent while bar k + 1 is forming. Per row, in account currency:

- gross = lots held × (next fill price - this fill price) × value of a price unit per lot;
- a buy pays the fill bar's spread (bar k + 1's spread column) — SimTerminal buys at its ask;
- every fill pays slippage (``CostModel.slippage_points`` of bar k's range: the last closed
  bar at fill time) and commission per lot.

The last bar has no next open: a decision on it cannot fill, and whatever is still held is
closed at its close (paying its own spread and range-based slippage). Prices are converted to
the account currency at the price the move ends at, as the terminal converts a closed
position's profit; for a pair quoted in the account currency (EURUSD in a USD account) the
conversion is the contract size and the backtest books exactly what the replay books.
Latency counts the symbol's own bars; SimTerminal counts bars of its merged timeline — the
same while the symbols trade the same hours (FX majors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from models.backtest import Simulation, simulate
from models.costs import CostModel, range_points

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class LotsBacktest:
    """One symbol's backtest in lots and account currency, one entry per bar.

    Attributes:
        symbol: the symbol.
        fill_price: bid each row fills at (next bar's open; the last row: its close).
        sim: the core's outcome (held/bought/traded in lots, gross/cost in account currency).
        spread_per_lot, slippage_per_lot: account-currency spread (per lot bought) and
            slippage (per lot traded) at each row; commission_per_lot: per lot traded.
    """

    symbol: str
    fill_price: F64
    sim: Simulation
    spread_per_lot: F64
    slippage_per_lot: F64
    commission_per_lot: float

    @property
    def net_pnl(self) -> float:
        """Total net PnL in account currency."""
        return float(self.sim.gross.sum() - self.sim.cost.sum())

    @property
    def fills(self) -> int:
        """Orders a broker would fill: rows where the held lots change."""
        return int(np.count_nonzero(self.sim.traded > 1e-12))

    @property
    def spread_paid(self) -> float:
        return float(self.sim.bought @ self.spread_per_lot)

    @property
    def slippage_paid(self) -> float:
        return float(self.sim.traded @ self.slippage_per_lot)

    @property
    def commission_paid(self) -> float:
        return float(self.sim.traded.sum() * self.commission_per_lot)


def backtest_lots(
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    spread: ArrayLike,
    lots: ArrayLike,
    *,
    symbol: str,
    point: float,
    costs: CostModel,
) -> LotsBacktest:
    """Backtest signed ``lots`` decided at each bar's close on one symbol's (bid) bars.

    Args:
        open_, high, low, close, spread: the symbol's bars, time-ordered (spread in points).
        lots: signed lots to hold, decided at each bar's close (e.g. ``RiskBudget.lots``).
        symbol: the symbol (its currencies pick the account conversion).
        point: the symbol's tick size.
        costs: the cost model (spread rule, slippage, commission, latency).

    Raises:
        ValueError: ``lots`` does not have one entry per bar; a cross pair (see
            ``CostModel.value_per_price_unit``).
    """
    o = np.asarray(open_, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    n = o.size
    if np.shape(lots) != (n,):
        raise ValueError(f"{symbol}: {np.shape(lots)} lots for {n} bars; need one per bar")
    s = np.asarray(spread, dtype=np.float64)
    fill = np.empty(n)
    fill_spread = np.empty(n)
    if n:
        fill[:-1], fill[-1] = o[1:], c[-1]
        fill_spread[:-1], fill_spread[-1] = s[1:], s[-1]
    value = costs.value_per_price_unit(symbol, fill)
    move = np.zeros(n)
    if n:
        move[:-1] = (fill[1:] - fill[:-1]) * value[1:]
    spread_per_lot = fill_spread * (point * value)
    slippage_per_lot = costs.slippage_points(range_points(high, low, point)) * (point * value)
    sim = simulate(
        lots,
        move,
        spread_per_lot,
        slippage_per_lot + costs.commission_per_lot,
        starts=(0,),
        latency_bars=costs.latency_bars,
    )
    return LotsBacktest(
        symbol=symbol,
        fill_price=fill,
        sim=sim,
        spread_per_lot=spread_per_lot,
        slippage_per_lot=slippage_per_lot,
        commission_per_lot=costs.commission_per_lot,
    )


def backtest_bars(
    bars: Mapping[str, pd.DataFrame],
    lots: Mapping[str, ArrayLike],
    *,
    costs: CostModel,
    points: Mapping[str, float] | None = None,
) -> dict[str, LotsBacktest]:
    """``backtest_lots`` for each symbol of ``bars`` (MT5 rate columns, time-ordered).

    Args:
        lots: per symbol, signed lots decided at each of its bars' close (same length).
        points: tick size per symbol; defaults to its record in ``costs`` (``CostModel.point``).
    """
    points = points or {}
    out = {}
    for symbol, frame in bars.items():
        out[symbol] = backtest_lots(
            frame["open"].to_numpy(np.float64),
            frame["high"].to_numpy(np.float64),
            frame["low"].to_numpy(np.float64),
            frame["close"].to_numpy(np.float64),
            frame["spread"].to_numpy(np.float64),
            lots[symbol],
            symbol=symbol,
            point=points[symbol] if symbol in points else costs.point(symbol),
            costs=costs,
        )
    return out
