"""A shadow SimTerminal over a live terminal's bars: where the canary trades on netting.

A netting account holds one position per symbol, so champion and canary cannot both trade
it. The canary then trades paper: a hedging SimTerminal whose market is the bars the live
terminal shows, refreshed at every ``advance()``. It fills as every SimTerminal does — at the
forming bar's open plus its spread and the shared cost model's slippage and commission —
which is the backtest's fill model too, so the shadow's PnL is what the backtest would say
about the canary's live decisions. The account's own book never sees these orders.

Limits: fills are at the forming bar's open, not at the live tick of the moment; pending
orders (``latency_bars`` > 0) are not supported, because the window of bars moves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.costs import CostModel
from serving.mt5 import constants as mt5
from serving.mt5.terminal import Terminal
from serving.mt5.types import RATES_FIELDS
from serving.sim.market import Replay
from serving.sim.terminal import SimTerminal

logger = logging.getLogger(__name__)

HISTORY_BARS = 500


def rates_frame(rates: np.ndarray) -> pd.DataFrame:
    """A terminal's rates as bars (``time`` tz-aware): the terminal's own clock, unshifted."""
    frame = pd.DataFrame({name: rates[name] for name in RATES_FIELDS})
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return frame


def live_bars(
    source: Terminal, symbols: Sequence[str], timeframe: str, count: int
) -> dict[str, pd.DataFrame]:
    """The last ``count`` bars (the forming one last) of each symbol the source has."""
    code = mt5.TIMEFRAMES[timeframe]
    found = {}
    for symbol in symbols:
        rates = source.copy_rates_from_pos(symbol, code, 0, count)
        if rates is not None and len(rates):
            found[symbol] = rates_frame(np.asarray(rates))
    return found


class ShadowTerminal(SimTerminal):
    """Paper trading on a live terminal's bars (hedging, so the canary's magic stands alone).

    Args:
        source: the live terminal (MetaTrader5 module, mt5linux bridge, or any look-alike).
        symbols, timeframe: what the worker trades.
        history: bars kept per symbol (more than any model's window).
        costs, balance: as for ``SimTerminal``; ``costs.latency_bars`` must be 0.
    """

    def __init__(
        self,
        source: Terminal,
        symbols: Sequence[str],
        timeframe: str,
        *,
        history: int = HISTORY_BARS,
        costs: CostModel | None = None,
        balance: float = 100_000.0,
    ) -> None:
        costs = costs or CostModel()
        if costs.latency_bars:
            raise ValueError("a shadow terminal fills at once: costs.latency_bars must be 0")
        self.source, self.symbols, self.timeframe_name = source, tuple(symbols), timeframe
        self.history = history
        bars = self._fetch()
        if not bars:
            raise ValueError(f"the live terminal shows no bars for {list(symbols)}")
        super().__init__(
            bars,
            timeframe=timeframe,
            account_mode="hedging",
            start=self._latest(bars),
            costs=costs,
            balance=balance,
            server="Tate-Shadow",
        )

    def _fetch(self) -> Mapping[str, pd.DataFrame]:
        return live_bars(self.source, self.symbols, self.timeframe_name, self.history)

    @staticmethod
    def _latest(bars: Mapping[str, pd.DataFrame]) -> Any:
        return max(frame["time"].iloc[-1] for frame in bars.values()).to_pydatetime()

    def advance(self) -> bool:
        """Follow the live terminal: re-read its bars; the book (positions, deals) carries on."""
        bars = self._fetch()
        if not bars or set(bars) - set(self.specs):
            return True  # nothing new to show, or a symbol without a spec: keep the last view
        self._replay = Replay(bars, self._latest(bars))
        self._market_moved()
        return True
