"""Mt5Broker: the only code that calls ``order_send``, on any terminal with the MT5 API.

Every answer a terminal can give is translated once, through ``RETCODE_OUTCOMES``, into an
``Outcome`` that says what happens next (see ``OPERATOR_ACTION``). The dangerous answer is
``None`` (or a timeout/connection retcode): the order may have reached the server. The
broker never resends blindly then; it first looks for the order by magic number and the
intent's comment among deals, positions and pending orders, and resends (a bounded number
of times) only when nothing is found.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from serving import mt5_constants as mt5
from serving.outcomes import OPERATOR_ACTION, RETCODE_OUTCOMES, Outcome, outcome_of

logger = logging.getLogger(__name__)

__all__ = [
    "OPERATOR_ACTION",
    "RETCODE_OUTCOMES",
    "Mt5Broker",
    "OrderEvent",
    "Outcome",
    "outcome_of",
]
_R = Outcome.REJECTED
_CHECK_OK = (0, mt5.TRADE_RETCODE_DONE)  # order_check answers 0 when the request is fine


@dataclass(frozen=True)
class OrderEvent:
    """One order's fate, as the journal records it (``state`` = outcome, maybe reconciled)."""

    intent_id: str
    symbol: str
    magic: int
    comment: str
    outcome: Outcome
    retcode: int | None
    ticket: int = 0
    deal: int = 0
    price: float = 0.0
    volume: float = 0.0
    requested_price: float = 0.0
    slippage_points: float = 0.0
    latency_seconds: float = 0.0
    attempts: int = 0
    reconciled: bool = False
    message: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def state(self) -> str:
        return f"{self.outcome.value}_reconciled" if self.reconciled else self.outcome.value


@dataclass(frozen=True)
class _Leg:
    buy: bool
    volume: float
    position: int  # ticket of the hedging position this leg closes, 0 to open
    comment: str


def choose_filling(filling_mode: int) -> int:
    """FOK when the symbol allows it, else IOC, else RETURN (MQL5 CTrade's rule)."""
    if filling_mode & mt5.SYMBOL_FILLING_FOK:
        return mt5.ORDER_FILLING_FOK
    if filling_mode & mt5.SYMBOL_FILLING_IOC:
        return mt5.ORDER_FILLING_IOC
    return mt5.ORDER_FILLING_RETURN


def round_volume(volume: float, step: float, vmin: float, vmax: float) -> float:
    """Signed volume rounded to the step, 0 below the minimum, clamped to the maximum."""
    size = min(round(round(abs(volume) / step) * step, 8), vmax)
    return 0.0 if size < vmin - 1e-9 else math.copysign(size, volume)


class Mt5Broker:
    """Brings this magic number's net position in a symbol to a target, safely.

    Args:
        terminal: the MetaTrader5 module, an mt5linux bridge or a SimTerminal.
        magic: stamped on every order; positions of other magics are never touched.
        deviation: allowed price deviation in points.
        max_requotes: fresh-price retries after a requote.
        max_resends: resends after an unknown outcome that reconciliation found nothing for.
        now: the event timestamp source (the worker passes its clock).
    """

    def __init__(
        self,
        terminal: Any,
        *,
        magic: int,
        deviation: int = 10,
        max_requotes: int = 3,
        max_resends: int = 1,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.terminal, self.magic, self.deviation = terminal, magic, deviation
        self.max_requotes, self.max_resends = max_requotes, max_resends
        self.now = now or (lambda: datetime.now(UTC))

    def for_magic(self, magic: int) -> Mt5Broker:
        """The same broker under another magic number (the canary trades as magic + 1)."""
        return Mt5Broker(
            self.terminal,
            magic=magic,
            deviation=self.deviation,
            max_requotes=self.max_requotes,
            max_resends=self.max_resends,
            now=self.now,
        )

    def _own_positions(self, symbol: str) -> list[Any]:
        positions = self.terminal.positions_get(symbol=symbol) or ()
        return sorted((p for p in positions if p.magic == self.magic), key=lambda p: p.ticket)

    def net_position(self, symbol: str) -> float:
        """Signed lots held under this magic (buy positive)."""
        return round(
            sum(
                p.volume if p.type == mt5.POSITION_TYPE_BUY else -p.volume
                for p in self._own_positions(symbol)
            ),
            8,
        )

    def _plan(self, symbol: str, delta: float, hedging: bool, intent_id: str) -> list[_Leg]:
        """Orders that move the net position by ``delta``: netting needs one; hedging closes
        opposite positions (oldest first) and opens a new one for what is left."""
        legs: list[_Leg] = []
        remaining = delta
        if hedging:
            for pos in self._own_positions(symbol):
                pos_sign = 1 if pos.type == mt5.POSITION_TYPE_BUY else -1
                if abs(remaining) < 1e-9 or pos_sign * remaining > 0:
                    continue
                closed = min(pos.volume, abs(remaining))
                legs.append(_Leg(remaining > 0, closed, pos.ticket, ""))
                remaining = round(remaining - math.copysign(closed, remaining), 8)
        if abs(remaining) > 1e-9:
            legs.append(_Leg(remaining > 0, abs(remaining), 0, ""))
        tag = f"t{intent_id[:24]}"
        return [
            _Leg(leg.buy, leg.volume, leg.position, f"{tag}.{i}"[:31]) for i, leg in enumerate(legs)
        ]

    def rebalance(self, symbol: str, target_volume: float, *, intent_id: str) -> list[OrderEvent]:
        """Send the orders that bring this magic's net position to ``target_volume`` lots.

        Returns one event per order sent (empty when already at target). Netting accounts
        need one order; a hedging account reversing needs a close and an open.
        """
        info = self.terminal.symbol_info(symbol)
        if info is None:
            err = self.terminal.last_error()
            return [self._event(intent_id, symbol, "", Outcome.REJECTED, None, message=f"{err}")]
        target = round_volume(target_volume, info.volume_step, info.volume_min, info.volume_max)
        delta = round(target - self.net_position(symbol), 8)
        if abs(delta) < info.volume_step / 2:
            return []
        account = self.terminal.account_info()
        hedging = (
            account is not None and account.margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        )
        filling = choose_filling(info.filling_mode)
        events = []
        for leg in self._plan(symbol, delta, hedging, intent_id):
            volume = abs(
                round_volume(leg.volume, info.volume_step, info.volume_min, info.volume_max)
            )
            if volume:
                events.append(self._submit(symbol, leg, volume, filling, info.point, intent_id))
        return events

    def _request(
        self, symbol: str, leg: _Leg, volume: float, filling: int, price: float
    ) -> dict[str, Any]:
        request = {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": symbol,
            "volume": volume,
            "type": mt5.ORDER_TYPE_BUY if leg.buy else mt5.ORDER_TYPE_SELL,
            "price": price,
            "deviation": self.deviation,
            "magic": self.magic,
            "comment": leg.comment,
            "type_time": mt5.ORDER_TIME_GTC,
            "type_filling": filling,
        }
        if leg.position:
            request["position"] = leg.position
        return request

    def _submit(
        self, symbol: str, leg: _Leg, volume: float, filling: int, point: float, intent_id: str
    ) -> OrderEvent:
        attempts = requotes = resends = 0
        while True:
            attempts += 1
            tick = self.terminal.symbol_info_tick(symbol)
            if tick is None:
                msg = f"no tick: {self.terminal.last_error()}"
                return self._event(
                    intent_id, symbol, leg.comment, _R, None, attempts=attempts, message=msg
                )
            price = tick.ask if leg.buy else tick.bid
            request = self._request(symbol, leg, volume, filling, price)
            check = self.terminal.order_check(request)
            if check is None or check.retcode not in _CHECK_OK:
                retcode = None if check is None else check.retcode
                outcome = _R if check is None else outcome_of(retcode)
                if outcome is Outcome.REQUOTE and requotes < self.max_requotes:
                    requotes += 1
                    continue
                msg = f"order_check: {check.comment if check else self.terminal.last_error()}"
                return self._event(
                    intent_id,
                    symbol,
                    leg.comment,
                    outcome,
                    retcode,
                    request=request,
                    attempts=attempts,
                    message=msg,
                )
            started = time.perf_counter()
            try:
                result = self.terminal.order_send(request)
            except Exception:  # a bridge may raise where the module returns None
                logger.exception("order_send raised for %s; treating as unknown", leg.comment)
                result = None
            latency = time.perf_counter() - started
            retcode = None if result is None else result.retcode
            outcome = outcome_of(retcode)
            if outcome is Outcome.REQUOTE and requotes < self.max_requotes:
                requotes += 1
                continue
            common = dict(
                request=request, attempts=attempts, latency_seconds=latency, requested_price=price
            )
            if outcome is Outcome.UNKNOWN:
                found = self._reconcile(symbol, leg.comment, tick.time)
                if found is not None:
                    ticket, deal, fill_price, fill_volume, found_outcome = found
                    logger.warning(
                        "order %s had no clear answer but was found: %s", leg.comment, found_outcome
                    )
                    return self._event(
                        intent_id,
                        symbol,
                        leg.comment,
                        found_outcome,
                        retcode,
                        ticket=ticket,
                        deal=deal,
                        price=fill_price,
                        volume=fill_volume,
                        reconciled=True,
                        slippage_points=self._slippage(leg.buy, price, fill_price, point),
                        **common,
                    )
                if resends < self.max_resends:
                    resends += 1
                    logger.warning("order %s unknown and not found; resending", leg.comment)
                    continue
            assert result is not None or outcome is Outcome.UNKNOWN
            fill_price = result.price if result is not None else 0.0
            return self._event(
                intent_id,
                symbol,
                leg.comment,
                outcome,
                retcode,
                ticket=result.order if result else 0,
                deal=result.deal if result else 0,
                price=fill_price,
                volume=result.volume if result else 0.0,
                slippage_points=self._slippage(leg.buy, price, fill_price, point)
                if fill_price
                else 0.0,
                message=(result.comment if result else f"no answer: {self.terminal.last_error()}"),
                **common,
            )

    def _reconcile(
        self, symbol: str, comment: str, around: int
    ) -> tuple[int, int, float, float, Outcome] | None:
        """Find an order sent under ``comment`` by this magic: deal, then position, then pending."""
        week = 7 * 86_400
        deals = self.terminal.history_deals_get(around - week, around + week, group=symbol) or ()
        for d in deals:
            if d.magic == self.magic and d.comment == comment and d.symbol == symbol:
                return d.order, d.ticket, d.price, d.volume, Outcome.FILLED
        for p in self.terminal.positions_get(symbol=symbol) or ():
            if p.magic == self.magic and p.comment == comment:
                return p.ticket, 0, p.price_open, p.volume, Outcome.FILLED
        for o in self.terminal.orders_get(symbol=symbol) or ():
            if o.magic == self.magic and o.comment == comment:
                return o.ticket, 0, o.price_open, o.volume_current, Outcome.PENDING
        return None

    @staticmethod
    def _slippage(buy: bool, requested: float, filled: float, point: float) -> float:
        """Adverse slippage in points (positive = paid more / received less than quoted)."""
        return round(((filled - requested) if buy else (requested - filled)) / point, 3)

    def _event(
        self,
        intent_id: str,
        symbol: str,
        comment: str,
        outcome: Outcome,
        retcode: int | None,
        **fields: Any,
    ) -> OrderEvent:
        return OrderEvent(
            intent_id=intent_id,
            symbol=symbol,
            magic=self.magic,
            comment=comment,
            outcome=outcome,
            retcode=retcode,
            at=self.now(),
            **fields,
        )
