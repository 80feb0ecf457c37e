"""SimTerminal's trading calls: ``order_check`` and ``order_send`` as the trade server answers them.

A part of ``serving.sim.terminal.SimTerminal``, kept in its own module because an order's path
is its own story: parse the request (once for a check and the send that follows it), apply the
server's checks (``serving.sim.checks``, kept for the send that follows a check), let a queued
fault (``serving.sim.faults``) spoil the call as a live terminal might, and book the fill on
the account (``serving.sim.account``) at the forming bar's quotes plus the shared cost
model's slippage and commission, or place it until ``latency_bars`` bars later.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from data_contracts.symbols import SymbolSpec
from models.costs import CostModel
from serving.mt5 import constants as mt5
from serving.mt5.types import OrderCheckResult, OrderSendResult, TradeRequest
from serving.sim.account import Book, Fill, PendingOrder
from serving.sim.checks import check_request, parse_request
from serving.sim.faults import (
    ANSWERING_FAULTS,
    LOST_AFTER_PLACING,
    LOST_BEFORE_PLACING,
    Fault,
    partial_volume,
)
from serving.sim.fields import by_position
from serving.sim.market import Replay
from serving.sim.quotes import BarQuotes
from serving.sim.valuation import Valuation

logger = logging.getLogger(__name__)

_TIMEOUT = (mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")


class OrderDesk:
    """``SimTerminal``'s trading calls and their helpers (``SimTerminal`` derives from it).

    It reads and writes the terminal's state declared below, which ``SimTerminal.__init__``
    sets (see there what each kept value is and what invalidates it).
    """

    specs: dict[str, SymbolSpec]
    costs: CostModel
    now: int
    faults: deque[Fault]
    comment_rewrite: Callable[[str], str] | None
    _replay: Replay
    _quotes: BarQuotes
    _book: Book
    _valuation: Valuation
    _parsed: tuple[Mapping[str, Any], dict[str, Any], TradeRequest] | None
    _checked: tuple[TradeRequest, int, tuple[int, str]] | None
    _request_id: int
    _error: tuple[int, str]

    if TYPE_CHECKING:

        def _online(self) -> bool: ...

        def disconnect(self) -> None: ...

    def _margin(self, req: TradeRequest) -> float:
        """The margin ``req`` would hold at this bar's quotes (0 for an unknown symbol)."""
        return (
            req.volume * self._quotes.margin_per_lot(req.symbol)
            if req.symbol in self.specs
            else 0.0
        )

    def _validate(self, req: TradeRequest, margin: float | None = None) -> tuple[int, str]:
        """The server's checks of ``req`` now, kept for the ``order_send`` that follows its
        ``order_check`` (same request, same bar, same book: the same answer). ``margin``:
        ``_margin(req)`` when the caller has it already."""
        version, checked = self._book.version, self._checked
        if (
            checked is not None
            and checked[1] == version
            and (checked[0] is req or checked[0] == req)
        ):
            return checked[2]
        spec = self.specs.get(req.symbol)
        positions, wanted = self._book.positions, req.position  # in and a subscript: no .get
        account = self._valuation.funds()  # the server's: it carries on while offline
        answer = check_request(
            req,
            spec,
            market_open=spec is not None and self._replay.is_open(req.symbol),
            hedging=self._book.hedging,
            closing=positions[wanted] if wanted and wanted in positions else None,
            margin_needed=self._margin(req) if margin is None else margin,
            margin_free=account.margin_free,
        )
        self._checked = (req, version, answer)
        return answer

    def _parse(self, request: Mapping[str, Any]) -> TradeRequest:
        """``parse_request(request)``, once for an ``order_check`` and the ``order_send`` of
        the same, unchanged dict that follows it (see ``_parsed``)."""
        kept = self._parsed
        if kept is not None and kept[0] is request and kept[1] == request:
            return kept[2]
        req = parse_request(request)
        self._parsed = (request, dict(request), req)
        return req

    def order_check(self, request: Mapping[str, Any]) -> OrderCheckResult | None:
        if not self._online():
            return None
        req = self._parse(request)
        margin = self._margin(req)
        retcode, comment = self._validate(req, margin)
        a = self._valuation.funds()
        free = a.equity - a.margin - margin
        level = 100.0 * a.equity / (a.margin + margin) if a.margin + margin else 0.0
        return by_position(
            OrderCheckResult,
            (retcode, a.balance, a.equity, a.profit, a.margin + margin, free, level, comment, req),
        )

    def order_send(self, request: Mapping[str, Any]) -> OrderSendResult | None:
        """Fill a market order at ask (buy) / bid (sell) plus adverse slippage, or place it.

        With ``costs.latency_bars > 0`` a valid order is answered TRADE_RETCODE_PLACED with
        its order ticket and fills when ``advance()`` reaches its bar. A queued fault (see
        ``serving.sim.faults``) changes the outcome, placing the order or not, as a live
        terminal might.
        """
        if not self._online():
            return None
        req = self._parse(request)
        self._request_id += 1
        fault = self.faults.popleft() if self.faults else None
        quoted = self._quotes.quote(req.symbol) if req.symbol in self.specs else (0.0, 0.0)
        if fault is not None:  # (most sends: none queued, no test to run)
            if isinstance(fault, str) and fault in ANSWERING_FAULTS:
                return self._answer(req, quoted, *ANSWERING_FAULTS[fault])
            if isinstance(fault, int):
                return self._answer(req, quoted, fault, "Injected fault")
            if fault in LOST_BEFORE_PLACING:
                self._lose_reply(str(fault))
                return None
        retcode, comment = self._validate(req)
        if retcode:
            return self._answer(req, quoted, retcode, comment)
        stored = (
            req._replace(comment=self.comment_rewrite(req.comment)) if self.comment_rewrite else req
        )
        part = partial_volume(self.specs[req.symbol], req.volume) if fault == "partial" else None
        if part is not None:
            fill = self._fill(stored, volume=part)
            result = self._answer(
                req, quoted, mt5.TRADE_RETCODE_DONE_PARTIAL, "Request executed partially", fill
            )
        elif self.costs.latency_bars:
            due = self._replay.cursor + self.costs.latency_bars
            order = self._book.place(stored, self.now, due)
            result = self._answer(
                req, quoted, mt5.TRADE_RETCODE_PLACED, "Request placed", order=order
            )
        else:
            fill = self._fill(stored)
            result = self._answer(req, quoted, mt5.TRADE_RETCODE_DONE, "Request executed", fill)
        if fault in LOST_AFTER_PLACING:
            self._lose_reply(str(fault))
            return None
        return result

    def _answer(
        self,
        req: TradeRequest,
        quoted: tuple[float, float],
        retcode: int,
        comment: str,
        fill: Fill | None = None,
        order: int = 0,
    ) -> OrderSendResult:
        """``order_send``'s result for ``req``, quoted at (bid, ask): the deal, order, volume
        and price of ``fill`` if it filled, else ``order`` (placed) or nothing."""
        if fill is None:
            deal, volume, price = 0, 0.0, 0.0
        else:
            deal, order, volume, price = fill.deal, fill.order, fill.volume, fill.price
        bid, ask = quoted
        return by_position(
            OrderSendResult,
            (retcode, deal, order, volume, price, bid, ask, comment, self._request_id, 0, req),
        )

    def _lose_reply(self, fault: str) -> None:
        """``order_send``'s ``None``: an IPC timeout, or the terminal gone until initialize."""
        if fault.startswith("disconnect"):
            self.disconnect()
        else:
            self._error = _TIMEOUT
        return None

    def _fill(
        self, req: TradeRequest, order: PendingOrder | None = None, volume: float | None = None
    ) -> Fill:
        """Book ``req`` now: the forming bar's ask/bid, slipped by the last closed bar's range
        (``volume``: deal only that much, the rest of the order cancelled)."""
        spec, buy = self.specs[req.symbol], req.type == mt5.ORDER_TYPE_BUY
        bid, ask, slip, value = self._quotes.filling(req.symbol)
        price = round(ask + slip if buy else bid - slip, spec.digits)
        dealt = req if volume is None else req._replace(volume=volume)
        fill = self._book.execute(
            dealt,
            price,
            self.now,
            -self.costs.commission(dealt.volume),
            value,
            order=order,
            requested=None if volume is None else req.volume,
        )
        if logger.isEnabledFor(logging.DEBUG):  # one call, not debug()'s two, when it is not
            logger.debug(
                "sim fill %s %s %.2f @ %s", req.symbol, "buy" if buy else "sell", req.volume, price
            )
        return fill

    def _fill_due(self) -> None:
        """Fill placed orders whose bar has come, oldest first; a symbol without a bar now
        keeps its orders waiting, and an order the server would refuse now is rejected."""
        for order in sorted(self._book.pending.values(), key=lambda o: o.ticket):
            req = order.request
            if order.due > self._replay.cursor or not self._replay.is_open(req.symbol):
                continue
            retcode, comment = self._validate(req)
            if retcode:
                logger.info("sim order %d rejected at fill time: %s", order.ticket, comment)
                self._book.reject(order, self.now)
                continue
            self._fill(req, order)
