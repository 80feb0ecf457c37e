"""Event-by-event reference implementations of the cost model: plain Python loops, slow on purpose.

They restate the rules of ``models.backtest`` and ``models.backtest_bars`` the way a broker
experiences them — decisions queue until their fill bar, a position is a running state, each
fill trades target minus position at that bar's prices — with no shifting, differencing or
grouping of arrays. The vectorised code must reproduce them to 1e-9 (tests and
``bench/backtest.py``); where the two disagree, this file is the specification.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from models.costs import CostModel, range_points


def reference_lots(
    open_: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    spread: Sequence[float],
    lots: Sequence[float],
    *,
    symbol: str,
    point: float,
    costs: CostModel,
) -> tuple[list[float], list[float]]:
    """Per-row (gross, cost) in account currency of ``lots`` on one symbol's bid bars.

    Row k is the fill at the open of bar k + 1 (the last row: the close-out at the last
    close); gross of a row is what the position filled there earns until the next fill.
    """
    n = len(open_)
    gross, cost = [0.0] * n, [0.0] * n
    queue: deque[tuple[int, float]] = deque()  # (bar whose open fills it, target lots)
    position, mark, row = 0.0, 0.0, -1

    def fill(target: float, price: float, spread_pts: float, closed_bar: int, at_row: int) -> None:
        nonlocal position, mark, row
        value = float(costs.value_per_price_unit(symbol, price))
        if row >= 0:
            gross[row] += position * (price - mark) * value
        trade = target - position
        slip = float(costs.slippage_points(range_points(high[closed_bar], low[closed_bar], point)))
        if trade > 0:
            cost[at_row] += trade * spread_pts * point * value  # the buy pays the ask
        cost[at_row] += abs(trade) * (slip * point * value + costs.commission_per_lot)
        position, mark, row = target, price, at_row

    for bar in range(n):
        if bar >= 1:  # the open of this bar: fill what is due now
            target = position
            while queue and queue[0][0] == bar:
                target = queue.popleft()[1]
            fill(target, float(open_[bar]), float(spread[bar]), bar - 1, bar - 1)
        queue.append((bar + 1 + costs.latency_bars, float(lots[bar])))  # decided at the close
    if n:
        fill(0.0, float(close[-1]), float(spread[-1]), n - 1, n - 1)  # close out at the end
    return gross, cost


def reference_panel(
    times: ArrayLike,
    symbols: ArrayLike,
    positions: ArrayLike,
    next_returns: ArrayLike,
    trade_cost: ArrayLike,
    buy_cost: ArrayLike,
    *,
    latency_bars: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, gross, net) per time of ``models.backtest.backtest_signals``, row by row.

    Each symbol's rows are walked in order with a queue of decisions in flight; on its last
    row the position is closed. Per time, the portfolio return is the mean over the symbols
    with a row at that time.
    """
    t = np.asarray(times)
    sym = np.asarray(symbols, dtype=object)
    pos, ret = np.asarray(positions, float), np.asarray(next_returns, float)
    trade, buy = np.asarray(trade_cost, float), np.asarray(buy_cost, float)
    rows: dict[object, list[int]] = {}
    for i, s in enumerate(sym):
        rows.setdefault(s, []).append(i)
    per_time: dict[Any, list[tuple[float, float]]] = {}
    for indices in rows.values():
        queue: deque[float] = deque([0.0] * latency_bars)
        held = 0.0
        for j, i in enumerate(indices):
            queue.append(float(pos[i]))
            target = queue.popleft()
            if j == len(indices) - 1:
                target = 0.0
            change = target - held
            paid = abs(change) * trade[i] + (change * buy[i] if change > 0 else 0.0)
            held = target
            per_time.setdefault(t[i], []).append((held * ret[i], paid))
    keys = sorted(per_time)
    gross = np.array([sum(g for g, _ in per_time[k]) / len(per_time[k]) for k in keys])
    paid = np.array([sum(c for _, c in per_time[k]) / len(per_time[k]) for k in keys])
    return np.array(keys), gross, gross - paid
