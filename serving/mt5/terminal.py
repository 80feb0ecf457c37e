"""The ``Terminal`` port: the MetaTrader5 calls tate makes, with the types they return.

Everything in ``serving/`` that talks to a terminal takes a ``Terminal``: the native
``MetaTrader5`` module (Windows), the ``mt5linux`` bridge (a terminal under Wine), ``SimTerminal``
and its shadow, and the tests' fakes. None of them inherits from it: they satisfy it by shape, so
mypy checks every call site against the real signatures instead of passing ``Any`` through. The
two native objects are untyped modules, cast to ``Terminal`` at the one place they are imported
(``flows.terminals.live_terminal``).

The return types are the named tuples of ``serving.mt5.types`` (the binary's structseqs carry the
same fields) and numpy record arrays of ``RATES_DTYPE``; ``None`` wherever MT5 answers ``None``
(then ``last_error()`` says why). Only the parameters tate passes are declared, by the names
the MetaTrader5 documentation gives them, so keyword calls type-check against every terminal.

``ReplayTerminal`` adds what a replay has beyond MT5: its clock (``now``) and ``advance()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from serving.mt5.types import (
    AccountInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
)

Request = Mapping[str, Any]
"""An ``order_check`` / ``order_send`` request: the MT5 field names (``TradeRequest``) to values."""

Moment = datetime | int
"""A time argument: MT5 takes a datetime (read as UTC) or epoch seconds."""


@runtime_checkable
class Terminal(Protocol):
    """The MetaTrader5 API as tate uses it (see the module docstring)."""

    def initialize(self) -> bool: ...

    def login(self, login: int, password: str = ..., server: str = ..., timeout: int = ...) -> bool:
        """Log in to ``login`` on ``server`` (the account every journal row is scoped to)."""
        ...

    def shutdown(self) -> None: ...

    def last_error(self) -> tuple[int, str]: ...

    def account_info(self) -> AccountInfo | None: ...

    def symbol_info(self, symbol: str) -> SymbolInfo | None: ...

    def symbol_info_tick(self, symbol: str) -> Tick | None: ...

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> np.ndarray | None: ...

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: Moment, date_to: Moment
    ) -> np.ndarray | None: ...

    def order_check(self, request: Request) -> OrderCheckResult | None: ...

    def order_send(self, request: Request) -> OrderSendResult | None: ...

    def positions_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None: ...

    def orders_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradeOrder, ...] | None: ...

    def history_orders_get(
        self,
        date_from: Moment | None = None,
        date_to: Moment | None = None,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeOrder, ...] | None: ...

    def history_deals_get(
        self,
        date_from: Moment | None = None,
        date_to: Moment | None = None,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None: ...


@runtime_checkable
class ReplayTerminal(Terminal, Protocol):
    """A replayed terminal (``SimTerminal``, a shadow, a test's remote one): a clock and a step."""

    @property
    def now(self) -> int:
        """Open time (epoch seconds) of the bar forming now."""
        ...

    def advance(self) -> bool:
        """Move to the next bar; False when the replay is over."""
        ...
