"""Vectorised, cost-aware backtest of per-bar positions on a panel of symbols.

A position decided at bar t (after its close) earns the next bar's return. Changing the
position pays the cost model's cost per unit traded (half the spread from the bar's spread
column, commission, slippage), so costs can only reduce PnL, and a position still open at the
end of a symbol's data (end of sample or delisting) is closed and pays for it. The portfolio
holds equal weights across the symbols trading at each time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BacktestResult:
    """Per-time portfolio returns and the equity curves built from them.

    Attributes:
        equity: DataFrame ``time, equity_gross, equity_net``, compounded from 1.0.
        gross_returns, net_returns: per-time portfolio returns, indexed by time.
        total_cost: sum of per-time portfolio costs (return units).
        turnover: mean absolute position change per row.
    """

    equity: pd.DataFrame
    gross_returns: pd.Series
    net_returns: pd.Series
    total_cost: float
    turnover: float


def position_changes(positions: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """|Δ position| per row within each symbol (rows time-ordered), entering from flat."""
    pos = np.asarray(positions, dtype=np.float64)
    frame = pd.DataFrame({"symbol": symbols, "pos": pos})
    previous = frame.groupby("symbol", sort=False)["pos"].shift(1).fillna(0.0).to_numpy()
    return np.abs(pos - previous)


def closing_trades(positions: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """|position| on each symbol's last row (closed there), 0 elsewhere."""
    pos = np.asarray(positions, dtype=np.float64)
    last = ~pd.Series(symbols).duplicated(keep="last").to_numpy()
    return np.where(last, np.abs(pos), 0.0)


def backtest_signals(
    times: pd.Series,
    symbols: np.ndarray,
    positions: np.ndarray,
    next_returns: np.ndarray,
    cost_per_unit: np.ndarray,
) -> BacktestResult:
    """Backtest positions (any real number; signals are -1/0/1) held for one bar each.

    Args:
        times: UTC time of each row; rows must be time-ordered within each symbol.
        symbols: symbol of each row.
        positions: position decided at each row's close, as a fraction of the symbol's slot.
        next_returns: simple return from this row's close to the next bar's close.
        cost_per_unit: cost in return units of trading 1 unit at this row.
    """
    pos = np.asarray(positions, dtype=np.float64)
    traded = position_changes(pos, symbols) + closing_trades(pos, symbols)
    gross = pos * np.asarray(next_returns, dtype=np.float64)
    cost = traded * np.asarray(cost_per_unit, dtype=np.float64)
    frame = pd.DataFrame(
        {"time": pd.Series(times).to_numpy(), "gross": gross, "net": gross - cost, "cost": cost}
    )
    per_time = frame.groupby("time", sort=True)[["gross", "net", "cost"]].mean()
    index = pd.DatetimeIndex(per_time.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    equity = pd.DataFrame(
        {
            "time": index,
            "equity_gross": np.cumprod(1.0 + per_time["gross"].to_numpy()),
            "equity_net": np.cumprod(1.0 + per_time["net"].to_numpy()),
        }
    )
    return BacktestResult(
        equity=equity,
        gross_returns=pd.Series(per_time["gross"].to_numpy(), index=index, name="gross"),
        net_returns=pd.Series(per_time["net"].to_numpy(), index=index, name="net"),
        total_cost=float(per_time["cost"].sum()),
        turnover=float(traded.mean()) if traded.size else 0.0,
    )
