"""Vectorised, cost-aware backtest: one numpy core, used in return units and in lots.

The core (``simulate``) works on rows grouped by symbol in contiguous, time-ordered blocks.
Row k stands for one fill opportunity of its symbol: the position decided at row k - latency
is filled there, then held while the price makes the row's ``move``. Per row:

- ``held[k] = target[k - latency_bars]`` within the symbol (flat before the first delayed
  decision arrives), except the symbol's last row, which ends flat: nothing after it could
  fill a new decision, so a position still open (end of sample, delisting) is closed there
  and pays for it;
- units bought = max(Δheld, 0) pay ``buy_cost`` (the spread: bars are bids, buys pay the ask);
- units traded = |Δheld| pay ``trade_cost`` (slippage and commission, on either side);
- gross PnL = held × move; net = gross - costs, so costs can only reduce PnL.

``backtest_signals`` runs the core on a training panel in return units (positions as a
fraction of each symbol's slot, close-to-close returns, equal weights across the symbols
trading at a time); ``models.backtest_bars`` runs it on bars in lots and account currency.
No pandas groupby on the hot path: rows are grouped once by a stable argsort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Simulation:
    """The core's per-row outcome (same row order as its inputs).

    Attributes:
        held: position held after the row's fill (delayed target; 0 on a symbol's last row).
        bought: units bought at the row (they pay ``buy_cost``).
        traded: units traded at the row, either side (they pay ``trade_cost``).
        gross: held × move; cost: bought × buy_cost + traded × trade_cost.
    """

    held: F64
    bought: F64
    traded: F64
    gross: F64
    cost: F64

    @property
    def net(self) -> F64:
        return self.gross - self.cost


def group_ends(starts: NDArray[np.intp], n: int) -> NDArray[np.intp]:
    """Index of the last row of each contiguous group, given the groups' first rows."""
    ends = np.empty_like(starts)
    if starts.size:
        ends[:-1] = starts[1:] - 1
        ends[-1] = n - 1
    return ends


def delay(targets: F64, starts: NDArray[np.intp], latency_bars: int) -> F64:
    """Targets shifted ``latency_bars`` rows later within each group; flat until they arrive."""
    held = np.zeros_like(targets)
    if latency_bars == 0:
        held[:] = targets
        return held
    if latency_bars < len(targets):
        held[latency_bars:] = targets[:-latency_bars]
    # the first rows of each group would otherwise inherit the previous group's tail
    ends = group_ends(starts, len(targets))
    lead = (starts[:, None] + np.arange(latency_bars)).ravel()
    lead = lead[lead <= np.repeat(ends, latency_bars)]
    held[lead] = 0.0
    return held


def simulate(
    targets: ArrayLike,
    move: ArrayLike,
    buy_cost: ArrayLike,
    trade_cost: ArrayLike,
    *,
    starts: ArrayLike = (0,),
    latency_bars: int = 0,
) -> Simulation:
    """Run the cost model over grouped rows (see the module docstring for the rules).

    Args:
        targets: position decided at each row, in any unit (fraction of a slot, lots).
        move: what one unit held through the row earns (a return, or account currency).
        buy_cost: cost of buying one unit at the row (the spread), >= 0.
        trade_cost: cost of trading one unit at the row on either side, >= 0.
        starts: first row of each symbol's contiguous block (rows time-ordered within).
        latency_bars: rows between a decision and its fill.
    """
    tgt = np.asarray(targets, dtype=np.float64)
    n = tgt.size
    first = np.asarray(starts, dtype=np.intp) if n else np.empty(0, dtype=np.intp)
    if latency_bars < 0:
        raise ValueError(f"latency_bars must be >= 0, got {latency_bars}")
    held = delay(tgt, first, latency_bars)
    held[group_ends(first, n)] = 0.0
    delta = np.empty_like(held)
    if n:
        delta[0] = held[0]
        np.subtract(held[1:], held[:-1], out=delta[1:])
        delta[first] = held[first]
    gross = held * np.asarray(move, dtype=np.float64)
    bought = np.maximum(delta, 0.0)
    traded = np.abs(delta)
    cost = bought * np.asarray(buy_cost, dtype=np.float64)
    cost += traded * np.asarray(trade_cost, dtype=np.float64)
    return Simulation(held=held, bought=bought, traded=traded, gross=gross, cost=cost)


def group_by_symbol(symbols: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(order, starts): ``order`` makes each symbol's rows contiguous, keeping their order."""
    codes, _ = pd.factorize(np.asarray(symbols, dtype=object))
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    if sorted_codes.size == 0:
        return order, np.empty(0, dtype=np.intp)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return order, starts


def traded_units(positions: ArrayLike, symbols: ArrayLike, latency_bars: int = 0) -> F64:
    """Units traded at each row (input order) under the backtest's rules: what costs are paid on."""
    pos = np.asarray(positions, dtype=np.float64)
    order, starts = group_by_symbol(symbols)
    zeros = np.zeros(pos.size)
    sim = simulate(pos[order], zeros, zeros, zeros, starts=starts, latency_bars=latency_bars)
    out = np.empty_like(pos)
    out[order] = sim.traded
    return out


def position_changes(positions: ArrayLike, symbols: ArrayLike) -> F64:
    """|Δ position| per row within each symbol (rows time-ordered), entering from flat."""
    pos = np.asarray(positions, dtype=np.float64)
    order, starts = group_by_symbol(symbols)
    grouped = pos[order]
    previous = np.r_[0.0, grouped[:-1]] if grouped.size else grouped
    previous[starts] = 0.0
    out = np.empty_like(pos)
    out[order] = np.abs(grouped - previous)
    return out


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


def _utc_index(times: ArrayLike) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(pd.Series(times)).as_unit("ns")
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def backtest_signals(
    times: ArrayLike,
    symbols: ArrayLike,
    positions: ArrayLike,
    next_returns: ArrayLike,
    trade_cost: ArrayLike,
    buy_cost: ArrayLike | None = None,
    *,
    latency_bars: int = 0,
) -> BacktestResult:
    """Backtest a panel of positions (any real number; signals are -1/0/1) in return units.

    Args:
        times: UTC time of each row; rows must be time-ordered within each symbol.
        symbols: symbol of each row.
        positions: position decided at each row's close, as a fraction of the symbol's slot.
        next_returns: simple return from this row's close to the next bar's close.
        trade_cost: cost in return units of trading 1 unit at this row on either side
            (slippage + commission), per row or one scalar for all.
        buy_cost: extra cost of buying 1 unit at this row (the spread); default 0.
        latency_bars: rows between a decision and its fill (``CostModel.latency_bars``).
    """
    pos = np.asarray(positions, dtype=np.float64)
    n = pos.size

    def per_row(values: ArrayLike) -> F64:  # scalars broadcast: one cost for every row
        return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,))

    order, starts = group_by_symbol(symbols)
    sim = simulate(
        pos[order],
        per_row(next_returns)[order],
        per_row(0.0 if buy_cost is None else buy_cost)[order],
        per_row(trade_cost)[order],
        starts=starts,
        latency_bars=latency_bars,
    )
    stamps = _utc_index(times).asi8[order]  # type: ignore[attr-defined]  # pandas-stubs lack asi8
    unique, inverse = np.unique(stamps, return_inverse=True)
    count = np.bincount(inverse, minlength=unique.size).astype(np.float64)
    gross = np.bincount(inverse, weights=sim.gross, minlength=unique.size) / count
    cost = np.bincount(inverse, weights=sim.cost, minlength=unique.size) / count
    net = gross - cost
    index = pd.DatetimeIndex(pd.to_datetime(unique, utc=True))
    equity = pd.DataFrame(
        {
            "time": index,
            "equity_gross": np.cumprod(1.0 + gross),
            "equity_net": np.cumprod(1.0 + net),
        }
    )
    return BacktestResult(
        equity=equity,
        gross_returns=pd.Series(gross, index=index, name="gross"),
        net_returns=pd.Series(net, index=index, name="net"),
        total_cost=float(cost.sum()),
        turnover=float(sim.traded.mean()) if n else 0.0,
    )
