"""OrderExecutor: orders through the broker with a journal that survives a crash anywhere.

The worker hands every target to ``OrderExecutor.rebalance``. In order:

1. **Refuse** while start-up reconciliation disagrees (``serving.startup``), saying why.
2. **Resolve** this (symbol, magic)'s open orders — ``sent`` (maybe sent, e.g. by a process
   that died), ``unknown`` and ``pending`` — against the terminal (``serving.reconcile``).
3. **Once per intent**: an intent one of whose orders reached the terminal (filled, partial,
   pending, or still unresolved) is never executed again, so a restarted worker re-deciding
   the same bar sends nothing twice. An intent whose orders were all proven absent or
   rejected may run again, under new order keys.
4. **Block** while an order of this (symbol, magic) stays unresolved: sending more without
   knowing the position could double it.
5. **Intend, then send**: once the broker has planned the orders, the intent row is
   committed (``OrderLog.planned``; a target already held writes nothing beyond the worker's
   decision row), then each order row is committed in state ``sent`` before ``order_send``
   (``OrderLog.sending``) and updated with the answer (``OrderLog.settled``).

``crash`` is a test hook called at the three points a process can die between journal and
terminal: ``"intent"`` (intent written, nothing sent), ``"sent"`` (order row written, not
sent) and ``"answered"`` (sent, answer not journaled). A test raises there and then builds a
new executor over the same journal and terminal — a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from serving.broker import Mt5Broker
from serving.intent_journal import IntentJournal
from serving.intents import (
    HELD_ORDER_STATES,
    OPEN_ORDER_STATES,
    IntentState,
    OrderState,
    PlannedOrder,
    intent_state_of,
    order_state_of,
    reached_terminal,
)
from serving.journal import Journal
from serving.order_events import OrderEvent
from serving.reconcile import Trace, TraceKind, locate
from serving.startup import StartupCheck, StartupReport

logger = logging.getLogger(__name__)

Crash = Callable[[str], None]


def _no_crash(point: str) -> None:
    return None


def planned_order(row: Mapping[str, Any]) -> PlannedOrder:
    """The order an ``intent_orders`` row describes."""
    return PlannedOrder(
        intent_id=row["intent_id"],
        seq=int(row["seq"]),
        symbol=row["symbol"],
        magic=int(row["magic"]),
        buy=row["side"] > 0,
        volume=float(row["volume"]),
        position=int(row["position"]),
        comment=row["comment"],
    )


def state_after(trace: Trace, row: Mapping[str, Any]) -> OrderState:
    """An open order's state once the terminal has shown what became of it."""
    if trace.kind is TraceKind.FILLED:
        partial = trace.volume < float(row["volume"]) - 1e-9
        return OrderState.PARTIAL if partial else OrderState.FILLED
    if trace.kind is TraceKind.PENDING:
        return OrderState.PENDING
    if trace.kind is TraceKind.ABSENT:
        return OrderState.REJECTED if trace.ticket else OrderState.ABSENT
    return OrderState.UNKNOWN


class _JournalLog:
    """The broker's ``OrderLog`` over the intent journal, with the crash hook's points."""

    def __init__(self, executor: OrderExecutor, intent: dict[str, Any], first_seq: int) -> None:
        self.x, self.intent, self.first_seq = executor, intent, first_seq
        self.wrote_intent = False

    def next_seq(self, intent_id: str) -> int:
        return self.first_seq

    def planned(self, orders: Sequence[PlannedOrder]) -> None:
        if not orders:
            return  # already at target: the decision row says so, no intent to keep
        self.x.store.write_intent(
            at=self.x.now(), state=IntentState.INTENDED.value, reason="", **self.intent
        )
        self.wrote_intent = True
        self.x.crash("intent")

    def claimed(self, symbol: str, magic: int) -> frozenset[int]:
        return self.x.store.claimed(symbol, magic)

    def sending(
        self, order: PlannedOrder, request: Mapping[str, Any], sent_time: int, attempt: int
    ) -> None:
        self.x.store.write_order(
            order.key,
            at=self.x.now(),
            **_static(order),
            state=OrderState.SENT.value,
            request=request,
            sent_time=sent_time,
            attempts=attempt,
        )
        self.x.crash("sent")

    def settled(self, order: PlannedOrder, event: OrderEvent) -> None:
        self.x.crash("answered")
        state = order_state_of(event)
        filled = event.volume if state in HELD_ORDER_STATES else 0.0
        matched_by = event.matched_by or ("answer" if event.ticket else "")
        self.x.store.write_order(
            order.key,
            at=self.x.now(),
            **_static(order),
            state=state.value,
            retcode=event.retcode,
            ticket=event.ticket,
            deal=event.deal,
            filled_volume=filled,
            price=event.price,
            attempts=event.attempts,
            sent_time=event.sent_time,
            matched_by=matched_by,
            request=event.request,
            reason=event.message,
        )


def _static(order: PlannedOrder) -> dict[str, Any]:
    return {
        "intent_id": order.intent_id,
        "seq": order.seq,
        "symbol": order.symbol,
        "magic": order.magic,
        "side": order.sign,
        "volume": order.volume,
        "position": order.position,
        "comment": order.comment,
    }


class OrderExecutor:
    """Journal-backed execution of the worker's targets (see the module docstring).

    Args:
        journal: the worker's journal; the intent tables are created in it when missing.
        terminal: the terminal the brokers trade on (read for reconciliation only).
        now: the event timestamp source (the worker's clock).
        crash: test hook, called with "intent", "sent" or "answered".

    ``refusing`` is None while trading is allowed, else the reason (for logs and metrics).
    """

    def __init__(
        self,
        journal: Journal,
        terminal: Any,
        *,
        now: Callable[[], datetime] | None = None,
        crash: Crash | None = None,
    ) -> None:
        self.journal, self.terminal = journal, terminal
        self.store = IntentJournal(journal)
        self.now = now or (lambda: datetime.now(UTC))
        self.crash = crash or _no_crash
        self.startup = StartupCheck(self)
        self.magics: set[int] = set()

    @property
    def refusing(self) -> str | None:
        return self.startup.refusing

    def start_up(self, magics: Iterable[int]) -> StartupReport:
        """Reconcile the journal with the terminal for ``magics`` before the first signal;
        trading is refused until they agree (``serving.startup``)."""
        self.magics |= set(magics)
        return self.startup.run(self.magics)

    def adopt_terminal_state(self, by: str, note: str = "") -> StartupReport:
        """Accept the terminal's positions as the truth, journaled under ``by``."""
        return self.startup.adopt(self.magics, by=by, note=note)

    def rebalance(
        self,
        broker: Mt5Broker,
        symbol: str,
        target_volume: float,
        *,
        intent_id: str,
        role: str,
        bar_time: int | None = None,
    ) -> list[OrderEvent]:
        """Bring ``broker``'s magic to ``target_volume`` lots in ``symbol`` under
        ``intent_id``, durably; returns the events of the orders sent (maybe none)."""
        magic = broker.magic
        if magic not in self.magics or self.refusing:
            self.start_up({magic})
        intent: dict[str, Any] = {
            "intent_id": intent_id,
            "role": role,
            "symbol": symbol,
            "magic": magic,
            "target_volume": target_volume,
            "bar_time": None if bar_time is None else datetime.fromtimestamp(bar_time, tz=UTC),
        }
        if self.refusing:
            if not reached_terminal(r["state"] for r in self.store.orders(intent_id=intent_id)):
                self._mark(intent, IntentState.REFUSED, self.refusing)
            logger.warning("not trading %s %s: %s", role, symbol, self.refusing)
            return []
        open_rows = self.store.orders(states=OPEN_ORDER_STATES, symbol=symbol, magic=magic)
        unresolved = self.resolve(open_rows) if open_rows else []
        rows = self.store.orders(intent_id=intent_id)
        if reached_terminal(row["state"] for row in rows):
            logger.info("intent %s already reached the terminal; not sent again", intent_id)
            return []
        if unresolved:
            why = "; ".join(f"{row['order_key']}: {row['reason']}" for row in unresolved)
            self._mark(intent, IntentState.BLOCKED, f"unresolved orders: {why}")
            logger.error("%s %s blocked by unresolved orders: %s", role, symbol, why)
            return []
        first_seq = max((row["seq"] for row in rows), default=-1) + 1
        log = _JournalLog(self, intent, first_seq)
        events = broker.rebalance(symbol, target_volume, intent_id=intent_id, log=log)
        if log.wrote_intent:
            self.refresh_intent(intent_id)
        elif events:  # the symbol could not be read: nothing planned, nothing sent
            self._mark(intent, IntentState.REJECTED, events[0].message)
        return events

    def _mark(self, intent: Mapping[str, Any], state: IntentState, reason: str) -> None:
        self.store.write_intent(at=self.now(), state=state.value, reason=reason, **intent)

    def refresh_intent(self, intent_id: str) -> None:
        """Recompute an intent's state, filled lots and partial remainder from its orders."""
        rows = self.store.orders(intent_id=intent_id)
        held = [row for row in rows if row["state"] in HELD_ORDER_STATES]
        filled = round(sum(row["side"] * row["filled_volume"] for row in held), 8)
        undone = round(sum(row["side"] * row["volume"] for row in held) - filled, 8)
        self.store.write_intent(
            intent_id=intent_id,
            at=self.now(),
            state=intent_state_of(row["state"] for row in rows).value,
            filled_volume=filled,
            remainder_volume=undone,
        )

    def resolve(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Ask the terminal what became of open orders; journal what it shows (an order event
        ``<state>_reconciled`` for each change); return the rows still unresolved."""
        unresolved, touched = [], set()
        for row in rows:
            claimed = self.store.claimed(row["symbol"], row["magic"]) - {row["ticket"]}
            trace = locate(
                self.terminal,
                planned_order(row),
                ticket=int(row["ticket"]),
                sent_time=int(row["sent_time"]),
                claimed=claimed,
            )
            state = state_after(trace, row)
            if len(trace.tickets) > 1:
                logger.critical("order %s: %s", row["order_key"], trace.reason)
            if state is OrderState.UNKNOWN:
                unresolved.append({**row, "state": state.value, "reason": trace.reason})
            if state.value == row["state"] and trace.ticket == row["ticket"]:
                continue
            self._record_resolution(row, state, trace)
            touched.add(row["intent_id"])
        for intent_id in touched:
            self.refresh_intent(intent_id)
        return unresolved

    def _record_resolution(self, row: Mapping[str, Any], state: OrderState, trace: Trace) -> None:
        at = self.now()
        filled = trace.volume if state in HELD_ORDER_STATES else 0.0
        self.store.write_order(
            row["order_key"],
            at=at,
            state=state.value,
            ticket=trace.ticket or row["ticket"],
            deal=trace.deal,
            filled_volume=filled,
            price=trace.price,
            matched_by=trace.matched_by,
            reason=trace.reason,
        )
        if state is OrderState.UNKNOWN:
            return  # still unknown: the row says why; the event log records outcomes only
        routine = row["state"] == OrderState.PENDING and state is OrderState.FILLED
        logger.log(
            logging.INFO if routine else logging.WARNING,
            "order %s: %s -> %s %s",
            row["order_key"],
            row["state"],
            state,
            trace.reason,
        )
        self.journal.record_order_event(
            intent_id=row["intent_id"],
            ticket=trace.ticket or int(row["ticket"]),
            request=row["request"] or {},
            retcode=row["retcode"],
            state=f"{state.value}_reconciled",
            price=trace.price,
            volume=filled,
            slippage_points=0.0,
            latency_seconds=0.0,
            at=at,
        )
