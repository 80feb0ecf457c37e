"""SimTerminal: a market replay with the MetaTrader5 module's call shapes and return types.

The worker and the broker adapter run unchanged on it, so paper trading and tests exercise
the production code path. Facts it keeps from the real terminal: position 0 of
``copy_rates_from_pos`` is the bar still forming (here: just opened, so open = high = low =
close and its future is not visible), rates are numpy structured arrays with MT5's dtype,
bid is the chart price and ask = bid + spread × point, orders carry magic and comment, and
``order_send`` may return ``None`` after the order reached the server. Times are the stored
bars' UTC epoch seconds (a live terminal would report server time). Costs come from the
shared ``models.costs.CostModel``, so a replay and the backtest (``models.backtest_bars``)
charge the same frictions: a market order fills at the forming bar's open — buys at the ask,
sells at the bid — slipped against the trader by ``CostModel.slippage_points`` of the last
closed bar's range, and pays commission per lot. With ``latency_bars > 0`` the order is
answered TRADE_RETCODE_PLACED, waits in ``orders_get``, and fills at the open of the bar
``latency_bars`` bars later, when ``advance()`` reaches it. The trading calls
(``order_check``, ``order_send``) live in ``serving.sim.trading``.

A replay asks the terminal the same things many times per bar, and the answers only move
when the bar or the book does: quotes, ticks and symbol infos are kept per bar
(``serving.sim.quotes``, dropped by ``advance``), the valued positions and the account per
bar and book, revalued on fills (``serving.sim.valuation``), and a request's parse and
server checks from ``order_check`` to the ``order_send`` that follows it. They are the same
tuples with the same numbers as working them out on every call. Specifications, currency and
leverage are fixed once built.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from data_contracts.symbols import SYMBOL_SPECS, SymbolSpec, UnknownSymbolSpecError
from models.costs import CostModel
from serving.mt5 import constants as mt5
from serving.mt5.types import (
    AccountInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)
from serving.sim.account import Book
from serving.sim.checks import in_group
from serving.sim.faults import Fault
from serving.sim.fields import account_tuple
from serving.sim.market import MarketFeed, Replay, history_window, to_epoch
from serving.sim.quotes import BarQuotes
from serving.sim.trading import OrderDesk
from serving.sim.valuation import Valuation

_OK = (mt5.RES_S_OK, "Success")
_NO_IPC = (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")


class SimTerminal(OrderDesk):
    """Replay of ``bars`` (one timeframe) behind the MetaTrader5 module's API.

    Args:
        bars: symbol → bars in the MT5 rate layout, all of ``timeframe``.
        timeframe: name of the bars' timeframe ("H1"); other timeframes are refused.
        specs: symbol specifications (default: ``data_contracts.symbols.SYMBOL_SPECS``).
        account_mode: "netting" (one position per symbol) or "hedging".
        start: index into the merged bar timeline, or a time, of the first forming bar.
        costs: commission, slippage and latency; default ``CostModel()``.
        comment_rewrite: a broker's habit of rewriting order comments (e.g. ``lambda c: ""``),
            applied to what the server stores: orders, deals and positions.
        feed: where the market goes on after the last of ``bars`` (default: the replay ends).
    """

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame],
        *,
        timeframe: str = "H1",
        specs: Mapping[str, SymbolSpec] | None = None,
        account_mode: Literal["netting", "hedging"] = "netting",
        start: int | datetime = 0,
        costs: CostModel | None = None,
        balance: float = 10_000.0,
        leverage: int = 100,
        currency: str = "USD",
        login: int = 5_000_001,
        server: str = "Tate-SimReplay",
        comment_rewrite: Callable[[str], str] | None = None,
        feed: MarketFeed | None = None,
    ) -> None:
        all_specs = dict(specs or SYMBOL_SPECS)
        missing = sorted(set(bars) - set(all_specs))
        if missing:
            raise UnknownSymbolSpecError(
                f"no symbol spec for {missing}; known: {sorted(all_specs)}"
            )
        self.timeframe = mt5.TIMEFRAMES[timeframe]
        self.specs = {s: all_specs[s] for s in bars}
        self.account_mode = account_mode
        self.costs = costs or CostModel()
        self.leverage, self.currency, self.login_id, self.server = leverage, currency, login, server
        self._replay = Replay(bars, start, feed)
        self.now: int = self._replay.now
        """Open time (epoch s) of the bar forming now: the replay's, copied whenever its bar
        changes (``_market_moved``). A plain attribute, read several times per decision (the
        worker's clock, every fill): read it, never set it."""
        self._book = Book(hedging=account_mode == "hedging", balance=balance)
        self._quotes = BarQuotes(self._replay, self.specs, currency, leverage, self.costs)
        self._valuation = Valuation(self._book, self._quotes, self._account_tuple)
        self._parsed: tuple[Mapping[str, Any], dict[str, Any], TradeRequest] | None = None
        """The last request dict parsed, a copy of it as it was then, and its
        ``TradeRequest``: ``order_send`` after ``order_check`` of the same dict parses it once.
        A parse depends on the dict alone, so it is invalidated only by another request
        object or by a change to the dict (it no longer equals the copy)."""
        self._checked: tuple[TradeRequest, int, tuple[int, str]] | None = None
        """The last request checked, the ``Book.version`` it was checked at and the answer:
        ``order_send`` after ``order_check`` of the same request checks it once. Invalidated
        by a new bar (``_market_moved``) and by any change to the book (its version)."""
        self._connected = False
        self._error: tuple[int, str] = _OK
        self._request_id = 0
        self.faults: deque[Fault] = deque()
        self.comment_rewrite = comment_rewrite

    # -- session -------------------------------------------------------------------------
    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        self._connected, self._error = True, _OK
        return True

    def login(self, login: int, password: str = "", server: str = "", timeout: int = 0) -> bool:
        self._connected, self._error = True, _OK
        return True

    def shutdown(self) -> None:
        self._connected = False

    def disconnect(self) -> None:
        """Lose the terminal mid-session: every call fails (``None``, no IPC) until
        ``initialize()``; the server side (orders, positions, deals) carries on."""
        self._connected, self._error = False, _NO_IPC

    def last_error(self) -> tuple[int, str]:
        return self._error

    def _online(self) -> bool:
        """Connected: every answered call clears the last error. The answers a worker asks
        several times per decision write it out (no IPC and ``None`` when not connected, else
        ``self._error = _OK``), a method call fewer per answer."""
        self._error = _OK if self._connected else _NO_IPC
        return self._connected

    # -- replay clock --------------------------------------------------------------------
    @property
    def current_time(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)

    def advance(self) -> bool:
        """Close the forming bar and open the next one, filling the orders due at its open.

        Returns False when the replay is over (nothing changes then); a terminal with a
        ``feed`` is never over.
        """
        if not self._replay.advance():
            return False
        self._market_moved()
        self._fill_due()
        return True

    def bars_left(self) -> int | None:
        """Bars the replay still holds, the forming one included: a replay's length to go;
        None when a live feed continues it (it does not end)."""
        if self._replay.feed is not None:
            return None
        return len(self._replay.timeline) - self._replay.cursor

    def inject(self, *faults: Fault) -> None:
        """Queue faults for the next ``order_send`` calls, one per call, in order."""
        self.faults.extend(faults)

    # -- market data ---------------------------------------------------------------------
    def _market_moved(self) -> None:
        """The market moved (a new bar, or a shadow's new view of it): what was kept for the
        last bar — quotes, ticks, infos, valued positions, a checked request — is dropped.
        Every change of ``_replay``'s bar goes through here."""
        quotes, replay = self._quotes, self._replay
        self.now = replay.now
        slips = quotes.slips if quotes.replay is replay else None
        self._quotes = BarQuotes(
            replay, self.specs, self.currency, self.leverage, self.costs, slips
        )
        self._valuation.new_bar(self._quotes)
        self._checked = None

    def _rates_ok(self, symbol: str, timeframe: int) -> bool:
        if not self._connected:
            self._error = _NO_IPC
            return False
        self._error = _OK
        if symbol not in self.specs or timeframe != self.timeframe:
            self._error = (mt5.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return False
        return True

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> np.ndarray | None:
        if not self._connected:  # ``_rates_ok`` written out: the worker's every symbol and bar
            self._error = _NO_IPC
            return None
        self._error = _OK
        if symbol not in self.specs or timeframe != self.timeframe:
            self._error = (mt5.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        return self._replay.from_pos(symbol, start_pos, count)

    def copy_rates_from(
        self, symbol: str, timeframe: int, date_from: datetime | int, count: int
    ) -> np.ndarray | None:
        if not self._rates_ok(symbol, timeframe):
            return None
        times = self._replay.visible_times(symbol)
        end = int(np.searchsorted(times, to_epoch(date_from), side="right"))
        return self._replay.shown(symbol, max(0, end - count), end)

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: datetime | int, date_to: datetime | int
    ) -> np.ndarray | None:
        if not self._rates_ok(symbol, timeframe):
            return None
        visible = self._replay.visible(symbol)
        times = visible["time"]
        return visible[(times >= to_epoch(date_from)) & (times <= to_epoch(date_to))]

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        if not self._connected:
            self._error = _NO_IPC
            return None
        self._error = _OK
        kept = self._quotes.ticks  # a kept answer without a call to ``tick``
        if symbol in kept:
            return kept[symbol]
        return self._quotes.tick(symbol) if symbol in self.specs else None

    def symbol_info(self, symbol: str) -> Any:
        if not self._connected:
            self._error = _NO_IPC
            return None
        self._error = _OK
        kept = self._quotes.infos  # a kept answer without a call to ``info``
        if symbol in kept:
            return kept[symbol]
        return self._quotes.info(symbol) if symbol in self.specs else None

    # -- account and positions -----------------------------------------------------------
    def account_info(self) -> AccountInfo | None:
        if not self._online():
            return None
        return self._valuation.account()

    def _account_tuple(self, balance: float, profit: float, margin: float) -> AccountInfo:
        mode = (
            mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
            if self.account_mode == "hedging"
            else mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
        )
        return account_tuple(self, balance, profit, margin, mode)

    def positions_total(self) -> int:
        return len(self._book.positions)

    def positions_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None:
        if not self._connected:
            self._error = _NO_IPC
            return None
        self._error = _OK
        if group is None and ticket is None:
            return (
                self._valuation.positions()
                if symbol is None
                else self._valuation.positions_in(symbol)
            )
        return tuple(
            p
            for p in self._valuation.positions()
            if (symbol is None or p.symbol == symbol)
            and in_group(p.symbol, group)
            and (ticket is None or p.ticket == ticket)
        )

    def orders_total(self) -> int:
        return len(self._book.pending)

    def orders_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradeOrder, ...] | None:
        """Market orders placed but not yet filled (only with ``latency_bars > 0``)."""
        if not self._connected:
            self._error = _NO_IPC
            return None
        self._error = _OK
        if not self._book.pending:  # the worker's every bar without latency
            return ()
        return tuple(
            self._book.pending_tuple(o)
            for o in self._book.pending.values()
            if (symbol is None or o.request.symbol == symbol)
            and in_group(o.request.symbol, group)
            and (ticket is None or o.ticket == ticket)
        )

    def history_orders_get(
        self,
        date_from: datetime | int | None = None,
        date_to: datetime | int | None = None,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeOrder, ...] | None:
        if not self._online():
            return None
        lo, hi = history_window(date_from, date_to, ticket, position)
        return tuple(
            o
            for o in self._book.orders_between(lo, hi)
            if in_group(o.symbol, group)
            and (ticket is None or o.ticket == ticket)
            and (position is None or o.position_id == position)
        )

    def history_deals_get(
        self,
        date_from: datetime | int | None = None,
        date_to: datetime | int | None = None,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None:
        """Deals by time range (+ group), by order ``ticket`` or by ``position`` id."""
        if not self._online():
            return None
        lo, hi = history_window(date_from, date_to, ticket, position)
        deals = self._book.deals_between(lo, hi)
        if group is None and ticket is None and position is None:  # the worker's every bar
            return tuple(deals)
        return tuple(
            d
            for d in deals
            if in_group(d.symbol, group)
            and (ticket is None or d.order == ticket)
            and (position is None or d.position_id == position)
        )
