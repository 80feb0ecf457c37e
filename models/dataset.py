"""A training panel across symbols: features, labels, label windows and trading costs per row.

Rows are (symbol, bar) pairs sorted by time, so the walk-forward splitter can cut the panel
on time alone. Each row carries the time its label ends (for purging) and what trading one
unit at that bar costs under the cost model (for the cost-aware backtest), so downstream code
needs no bars: a decision at the bar's close fills at the next bar's open (≈ this close), a
buy pays the *next* bar's spread (the fill bar's, as SimTerminal charges it), and every fill
pays slippage from *this* bar's range (the last closed bar at fill time) plus commission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.costs import CostModel, range_points
from models.errors import NotEnoughBarsError
from models.features import features_frame
from models.labels import forward_log_returns
from models.strategy import Strategy


@dataclass(frozen=True)
class Dataset:
    """Panel of rows sorted by (time, symbol); every array has one entry per row of ``X``.

    Attributes:
        X: features (the strategy's feature names as columns).
        y: the strategy's labels (e.g. 1 when the close ``horizon`` bars later is higher).
        times: open time of the bar decided on (its close starts the label), UTC.
        label_end_times: open time of the bar whose close ends the label, UTC.
        symbols: symbol of each row.
        fwd_returns: log return over the label horizon.
        next_returns: simple return from this bar's close to the next bar's close (what a
            position taken now earns over one bar).
        buy_cost: cost, in return units, of buying 1 unit here: the fill bar's spread.
        trade_cost: cost, in return units, of trading 1 unit here on either side: slippage
            and commission.
        horizon: label horizon in bars.
        costs: the cost model the costs were computed with (its latency applies to fills).
        strategy: the strategy that computed the features and labels; a fold fits and
            decides with it, wherever the panel is shipped.
    """

    X: pd.DataFrame
    y: np.ndarray
    times: pd.Series
    label_end_times: pd.Series
    symbols: np.ndarray
    fwd_returns: np.ndarray
    next_returns: np.ndarray
    buy_cost: np.ndarray
    trade_cost: np.ndarray
    horizon: int
    costs: CostModel
    strategy: Strategy

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> Dataset:
        """Rows where ``mask`` is true (boolean array or integer positions), order kept."""
        return Dataset(
            X=self.X.iloc[mask].reset_index(drop=True),
            y=self.y[mask],
            times=self.times.iloc[mask].reset_index(drop=True),
            label_end_times=self.label_end_times.iloc[mask].reset_index(drop=True),
            symbols=self.symbols[mask],
            fwd_returns=self.fwd_returns[mask],
            next_returns=self.next_returns[mask],
            buy_cost=self.buy_cost[mask],
            trade_cost=self.trade_cost[mask],
            horizon=self.horizon,
            costs=self.costs,
            strategy=self.strategy,
        )


def _symbol_rows(
    strategy: Strategy,
    symbol: str,
    bars: pd.DataFrame,
    horizon: int,
    point: float,
    costs: CostModel,
) -> pd.DataFrame:
    bars = bars.sort_values("time").reset_index(drop=True)
    close = bars["close"].to_numpy(np.float64)
    y, end_idx = strategy.labels(close, horizon)
    frame = features_frame(strategy, bars)
    frame["y"] = y
    frame["time"] = bars["time"]
    frame["label_end_time"] = bars["time"].iloc[end_idx].reset_index(drop=True)
    frame["symbol"] = symbol
    frame["fwd_return"] = forward_log_returns(close, horizon)
    frame["next_return"] = np.append(close[1:] / close[:-1] - 1.0, np.nan)
    spread = bars["spread"].to_numpy(np.float64)
    fill_spread = np.append(spread[1:], spread[-1:])  # the last bar closes at its own spread
    frame["buy_cost"] = costs.spread_return(fill_spread, point, close)
    frame["trade_cost"] = costs.fill_return(
        symbol, range_points(bars["high"], bars["low"], point), point, close
    )
    usable = ~np.isnan(y) & ~frame[list(strategy.feature_names)].isna().all(axis=1).to_numpy()
    rows: pd.DataFrame = frame.loc[usable]
    return rows


def _point(points: Mapping[str, float], symbol: str, costs: CostModel) -> float:
    """The tick size given for ``symbol``, else its record's."""
    return points[symbol] if symbol in points else costs.point(symbol)


def build_dataset(
    strategy: Strategy,
    bars: Mapping[str, pd.DataFrame],
    *,
    horizon: int,
    points: Mapping[str, float] | None = None,
    costs: CostModel | None = None,
) -> Dataset:
    """Build the panel from bars per symbol (rows lacking history or a full label are dropped).

    Args:
        strategy: computes each symbol's features and labels.
        points: tick size per symbol (spread × point is the spread in price); defaults to
            the symbol's record in ``costs`` (``CostModel.point``).
        costs: cost model for ``buy_cost``/``trade_cost`` (default ``CostModel()``), carrying
            the symbols' records.
    """
    costs = costs or CostModel()
    points = points or {}
    parts = [
        _symbol_rows(strategy, symbol, frame, horizon, _point(points, symbol, costs), costs)
        for symbol, frame in bars.items()
    ]
    panel = pd.concat(parts, ignore_index=True)
    panel = panel.sort_values(["time", "symbol"], kind="stable").reset_index(drop=True)
    if panel.empty:
        raise NotEnoughBarsError(
            f"no usable rows: every symbol has fewer bars than a window + {horizon}"
        )
    return Dataset(
        X=panel.loc[:, list(strategy.feature_names)],
        y=panel["y"].to_numpy(np.float64),
        times=panel["time"],
        label_end_times=panel["label_end_time"],
        symbols=panel["symbol"].to_numpy(dtype=object),
        fwd_returns=panel["fwd_return"].to_numpy(np.float64),
        next_returns=panel["next_return"].fillna(0.0).to_numpy(np.float64),
        buy_cost=panel["buy_cost"].to_numpy(np.float64),
        trade_cost=panel["trade_cost"].to_numpy(np.float64),
        horizon=horizon,
        costs=costs,
        strategy=strategy,
    )
