"""Mt5Broker: the only code that calls ``order_send``, on any terminal with the MT5 API.

Every answer a terminal can give is translated once, through ``RETCODE_OUTCOMES`` (and
``NO_ANSWER_OUTCOMES`` when ``order_send`` returns ``None``), into an ``Outcome`` that says
what happens next (see ``serving.execution.outcomes``). Each order is built from the symbol's own facts:
filling mode from ``symbol_info().filling_mode``, volume on its step and within its limits,
``deviation`` in points, the worker's ``magic`` and the order key as comment; ``order_check``
runs before every ``order_send``. What to send is planned by the broker's base,
``PositionPlanner`` (``serving.execution.planner``), which only reads the terminal.

The dangerous answer is the unclear one (``None`` with an IPC error, 10011, 10012, 10031): the
order may have reached the server. The broker never resends blindly then: it looks for the
order by ticket, magic + comment and fingerprint (``serving.execution.reconciler.find_trace``) and resends
(at most ``max_resends`` times, under the same key) only when the order is *proven absent*.
An ``OrderLog`` (``serving.execution.executor``) is told before every send and after the last word,
so a journal can survive a crash at any point.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from serving.execution.events import OrderEvent, choose_filling, order_event, slippage_points
from serving.execution.intents import NoOrderLog, OrderLog, PlannedOrder
from serving.execution.outcomes import RETCODE_OUTCOMES, STOP_OUTCOMES, Outcome, outcome_of
from serving.execution.planner import PositionPlanner
from serving.execution.reconciler import Trace, TraceKind, locate
from serving.mt5 import constants as mt5
from serving.mt5.terminal import Terminal

logger = logging.getLogger(__name__)

__all__ = ["Mt5Broker"]

# outcomes as module names: an enum class's attribute costs a Python call (its metaclass has
# ``__getattr__``), and each order asks several
_R, _REQUOTE, _THROTTLED = Outcome.REJECTED, Outcome.REQUOTE, Outcome.THROTTLED
_UNKNOWN = Outcome.UNKNOWN
_DEAL, _GTC = mt5.TRADE_ACTION_DEAL, mt5.ORDER_TIME_GTC
_BUY, _SELL = mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL
_CHECK_OK = (0, mt5.TRADE_RETCODE_DONE)  # order_check answers 0 when the request is fine


class _Attempts:
    """Counts checks and sends of one order across requotes, back-offs and resends (from the
    class's 0: no ``__init__`` call per order)."""

    count = 0


class Mt5Broker(PositionPlanner):
    """Brings this magic number's net position in a symbol to a target, safely: plans as a
    ``PositionPlanner`` (``plan``, ``net_position``, ``pending_volume``), sends here.

    Args:
        terminal: the MetaTrader5 module, an mt5linux bridge or a SimTerminal.
        magic: stamped on every order; positions of other magics are never touched.
        deviation: allowed price deviation in points.
        max_requotes: fresh-price retries after a requote (10004, 10020, 10021).
        max_resends: resends after an unknown outcome whose order was proven absent.
        max_throttled: retries after 10024/10028, each after an exponential back-off.
        backoff_seconds, backoff_max_seconds: the back-off's first and largest wait.
        settle_seconds: wait before looking for an order after an unknown outcome, so a
            request still inside the terminal can land first (live: a second or two).
        now: the event timestamp source (the worker passes its clock).
        sleep: how back-offs and settling wait (the worker's ``clock.sleep``; tests record).
    """

    def __init__(
        self,
        terminal: Terminal,
        *,
        magic: int,
        deviation: int = 10,
        max_requotes: int = 3,
        max_resends: int = 1,
        max_throttled: int = 3,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 8.0,
        settle_seconds: float = 0.0,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(terminal, magic)
        self.deviation = deviation
        self.max_requotes, self.max_resends = max_requotes, max_resends
        self.max_throttled = max_throttled
        self.backoff_seconds, self.backoff_max_seconds = backoff_seconds, backoff_max_seconds
        self.settle_seconds = settle_seconds
        self.now = now or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self._seen: set[int] = set()  # order tickets answered in this session

    def for_magic(self, magic: int, terminal: Terminal | None = None) -> Mt5Broker:
        """The same broker under another magic number (the canary trades as magic + 1), on
        another terminal if given (the canary's shadow SimTerminal on a netting account)."""
        return Mt5Broker(
            self.terminal if terminal is None else terminal,
            magic=magic,
            deviation=self.deviation,
            max_requotes=self.max_requotes,
            max_resends=self.max_resends,
            max_throttled=self.max_throttled,
            backoff_seconds=self.backoff_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            settle_seconds=self.settle_seconds,
            now=self.now,
            sleep=self.sleep,
        )

    def rebalance(
        self, symbol: str, target_volume: float, *, intent_id: str, log: OrderLog | None = None
    ) -> list[OrderEvent]:
        """Send the orders that bring this magic's net position to ``target_volume`` lots.

        Returns one event per order sent (empty when already at target; one rejected event
        without a request when the symbol cannot be read). A hedging reversal's second order
        is not sent after an unknown or operational outcome of the first. ``log`` hears of
        every order before it is sent and after its last word (``serving.execution.executor``
        journals it).
        """
        log = log or NoOrderLog()
        info = self.terminal.symbol_info(symbol)
        if info is None:
            err = self.terminal.last_error()
            return [self._event(intent_id, symbol, "", Outcome.REJECTED, None, message=f"{err}")]
        planned = self._plan(info, symbol, target_volume, intent_id, log.next_seq(intent_id))
        log.planned(planned)
        filling = choose_filling(info.filling_mode)
        events: list[OrderEvent] = []
        for order in planned:
            events.append(self.submit(order, filling=filling, point=info.point, log=log))
            if events[-1].outcome in STOP_OUTCOMES:
                break  # the book is uncertain or a human must act: send nothing more
        return events

    # -- sending -------------------------------------------------------------------------
    def _request(self, order: PlannedOrder, filling: int, price: float) -> dict[str, Any]:
        request = {
            "action": _DEAL,
            "symbol": order.symbol,
            "volume": order.volume,
            "type": _BUY if order.buy else _SELL,
            "price": price,
            "deviation": self.deviation,
            "magic": self.magic,
            "comment": order.comment,
            "type_time": _GTC,
            "type_filling": filling,
        }
        if order.position:
            request["position"] = order.position
        return request

    def submit(
        self, order: PlannedOrder, *, filling: int, point: float, log: OrderLog
    ) -> OrderEvent:
        """One order to its last word: send, and after an unknown outcome look for it and
        resend only when it is proven absent. ``log.settled`` hears the result."""
        attempts, resends = _Attempts(), 0
        while True:
            event = self._send_once(order, filling, point, log, attempts)
            if event.outcome is _THROTTLED and self.max_throttled > 0:
                event = self._throttled(event, order, filling, point, log, attempts)
            if event.outcome is not _UNKNOWN or not event.sent_time:
                break
            trace = self.trace(order, ticket=event.ticket, sent_time=event.sent_time, log=log)
            if trace.kind in (TraceKind.FILLED, TraceKind.PENDING):
                event = self._found(event, trace, order, point)
                break
            if trace.kind is TraceKind.ABSENT and resends < self.max_resends:
                resends += 1
                logger.warning("order %s unknown and proven absent; resending", order.key)
                continue
            absent = trace.kind is TraceKind.ABSENT
            event = replace(event, proven_absent=absent, message=trace.reason)
            logger.error("order %s: %s (%s)", order.key, event.state, trace.reason)
            break
        if event.ticket:
            self._seen.add(event.ticket)
        log.settled(order, event)
        return event

    def _found(
        self, event: OrderEvent, trace: Trace, order: PlannedOrder, point: float
    ) -> OrderEvent:
        if len(trace.tickets) > 1:
            logger.critical("order %s: %s", order.key, trace.reason)
        else:
            logger.warning("order %s had no clear answer but was found: %s", order.key, trace.kind)
        outcome = Outcome.FILLED if trace.kind is TraceKind.FILLED else Outcome.PENDING
        return replace(
            event,
            outcome=outcome,
            ticket=trace.ticket,
            deal=trace.deal,
            price=trace.price,
            volume=trace.volume,
            reconciled=True,
            matched_by=trace.matched_by,
            message=trace.reason or event.message,
            slippage_points=slippage_points(order.buy, event.requested_price, trace.price, point),
        )

    def trace(
        self, order: PlannedOrder, *, ticket: int, sent_time: int, log: OrderLog | None = None
    ) -> Trace:
        """Where ``order`` is now, after ``settle_seconds``: ``serving.execution.reconciler.find_trace``
        over this symbol's deals, history orders, open orders and positions."""
        if self.settle_seconds > 0:
            self.sleep(self.settle_seconds)
        claimed = frozenset(self._seen) | (log or NoOrderLog()).claimed(order.symbol, self.magic)
        return locate(self.terminal, order, ticket=ticket, sent_time=sent_time, claimed=claimed)

    def _throttled(
        self,
        first: OrderEvent,
        order: PlannedOrder,
        filling: int,
        point: float,
        log: OrderLog,
        attempts: _Attempts,
    ) -> OrderEvent:
        """Send until a clear answer after a throttled ``first`` one, backing off between
        attempts (tenacity, injected sleep).

        The first attempt runs outside tenacity (``submit``): building a ``Retrying`` costs
        more than a SimTerminal send, and nearly every send is answered at once. Tenacity is
        handed that answer as its first attempt, so the attempts, back-offs and final answer
        are the same as when tenacity ran them all."""
        answered = [first]

        def attempt() -> OrderEvent:
            if answered:
                return answered.pop()
            return self._send_once(order, filling, point, log, attempts)

        retrying = Retrying(
            retry=retry_if_result(lambda e: e.outcome is Outcome.THROTTLED),
            stop=stop_after_attempt(self.max_throttled + 1),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=self.backoff_max_seconds),
            sleep=self.sleep,
            before_sleep=lambda s: logger.warning("order %s throttled; backing off", order.key),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        event: OrderEvent = retrying(attempt)
        return event

    def _send_once(
        self, order: PlannedOrder, filling: int, point: float, log: OrderLog, attempts: _Attempts
    ) -> OrderEvent:
        """Fresh price, ``order_check``, ``log.sending``, ``order_send``; requotes retried."""
        requotes, terminal = 0, self.terminal
        while True:
            attempts.count += 1
            tick = terminal.symbol_info_tick(order.symbol)
            if tick is None:
                msg = f"no tick: {terminal.last_error()}"
                return self._event_for(order, _R, None, attempts=attempts.count, message=msg)
            price = tick.ask if order.buy else tick.bid
            request = self._request(order, filling, price)
            check = terminal.order_check(request)
            if check is None or check.retcode not in _CHECK_OK:
                retcode = None if check is None else check.retcode
                outcome = _R if check is None else outcome_of(retcode)
                if outcome is _REQUOTE and requotes < self.max_requotes:
                    requotes += 1
                    continue
                msg = f"order_check: {check.comment if check else terminal.last_error()}"
                return self._event_for(
                    order, outcome, retcode, request=request, attempts=attempts.count, message=msg
                )
            sent_time = int(tick.time)
            log.sending(order, request, sent_time, attempts.count)
            started = time.perf_counter()
            try:
                result = terminal.order_send(request)
            except Exception:  # a bridge may raise where the module returns None
                logger.exception("order_send raised for %s; treating as unknown", order.key)
                result = None
            latency = time.perf_counter() - started
            error: tuple[int, str] | None = None
            if result is None:
                error = terminal.last_error()
                retcode, outcome = None, outcome_of(None, error[0])
            else:  # outcome_of(retcode), its call only for a stranger (which it logs)
                retcode = result.retcode
                outcome = RETCODE_OUTCOMES.get(retcode) or outcome_of(retcode)
            if outcome is _REQUOTE and requotes < self.max_requotes:
                requotes += 1
                continue
            if result is None:
                return self._answer(
                    order, outcome, None, request, attempts.count, latency, price, sent_time,
                    0, 0, 0.0, 0.0, 0.0, f"no answer: {error}",
                )  # fmt: skip
            fill_price = result.price
            return self._answer(
                order, outcome, retcode, request, attempts.count, latency, price, sent_time,
                result.order, result.deal, fill_price, result.volume,
                slippage_points(order.buy, price, fill_price, point), result.comment,
            )  # fmt: skip

    def _answer(
        self,
        order: PlannedOrder,
        outcome: Outcome,
        retcode: int | None,
        request: dict[str, Any],
        attempts: int,
        latency: float,
        requested_price: float,
        sent_time: int,
        ticket: int,
        deal: int,
        price: float,
        volume: float,
        slippage: float,
        message: str,
    ) -> OrderEvent:
        """The event of an order the terminal answered (or failed to): what
        ``_event_for(order, …)`` builds from the same values, every field given in the
        dataclass's order, without the keywords and the check for strangers (one per order
        sent, each field known here)."""
        event = object.__new__(OrderEvent)
        event.__dict__.update(
            intent_id=order.intent_id,
            symbol=order.symbol,
            magic=self.magic,
            comment=order.comment,
            outcome=outcome,
            retcode=retcode,
            ticket=ticket,
            deal=deal,
            price=price,
            volume=volume,
            requested_price=requested_price,
            slippage_points=slippage,
            latency_seconds=latency,
            attempts=attempts,
            reconciled=False,
            message=message,
            request=request,
            at=self.now(),
            order_key=order.key,
            requested_volume=order.volume,
            sent_time=sent_time,
            proven_absent=False,
            matched_by="",
        )
        return event

    def _event_for(
        self, order: PlannedOrder, outcome: Outcome, retcode: int | None, **fields: Any
    ) -> OrderEvent:
        return order_event(
            intent_id=order.intent_id,
            symbol=order.symbol,
            magic=self.magic,
            comment=order.comment,
            outcome=outcome,
            retcode=retcode,
            at=self.now(),
            order_key=order.key,
            requested_volume=order.volume,
            **fields,
        )

    def _event(
        self,
        intent_id: str,
        symbol: str,
        comment: str,
        outcome: Outcome,
        retcode: int | None,
        **fields: Any,
    ) -> OrderEvent:
        return order_event(
            intent_id=intent_id,
            symbol=symbol,
            magic=self.magic,
            comment=comment,
            outcome=outcome,
            retcode=retcode,
            at=self.now(),
            **fields,
        )
