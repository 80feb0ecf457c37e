"""The journal's open orders, kept in step with the terminal: the ``Reconciler``.

An order row stays open (``sent``, ``unknown``, ``pending``) until the terminal shows what
became of it. ``Reconciler.resolve`` asks the terminal (``serving.execution.reconciler.locate``)
and journals what it shows, committed as it goes: the row's new state and an order event
``<state>_reconciled``, then its intent's totals. It also keeps ``open``, the account's open
rows by order key, mirrored from the journal, which the executor reads on the decision path.

Both the executor (open orders that block a symbol) and the start-up check
(``serving.execution.startup``) resolve through it; neither refers to the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from serving.execution.intents import HELD_ORDER_STATES, OPEN_ORDER_STATES, OrderState
from serving.execution.reconciler import Trace, TraceKind, locate
from serving.execution.records import OrderRecord
from serving.execution.store import IntentJournal
from serving.execution.trades import intent_totals, planned_order
from serving.journal import JournalWrites
from serving.mt5.terminal import Terminal
from serving.ports import JournalDatabase

logger = logging.getLogger(__name__)


def state_after(trace: Trace, order: OrderRecord) -> OrderState:
    """An open order's state once the terminal has shown what became of it."""
    if trace.kind is TraceKind.FILLED:
        partial = trace.volume < float(order.volume) - 1e-9
        return OrderState.PARTIAL if partial else OrderState.FILLED
    if trace.kind is TraceKind.PENDING:
        return OrderState.PENDING
    if trace.kind is TraceKind.ABSENT:
        return OrderState.REJECTED if trace.ticket else OrderState.ABSENT
    return OrderState.UNKNOWN


class Reconciler:
    """Resolves one account's open orders against the terminal (see the module docstring).

    Args:
        journal: where each resolution is committed.
        store: the account's intents and orders in that journal.
        terminal: the terminal the orders were sent to.
        now: the event timestamp source.
    """

    def __init__(
        self,
        journal: JournalDatabase,
        store: IntentJournal,
        terminal: Terminal,
        now: Callable[[], datetime],
    ) -> None:
        self.journal, self.store, self.terminal, self.now = journal, store, terminal, now
        self.account = store.account
        self.open: dict[str, OrderRecord] = {}  # the account's open order rows, by key

    def mirror(self) -> None:
        """Read the open orders from the journal (after start-up or an adoption)."""
        self.open = {row.order_key: row for row in self.store.orders(states=OPEN_ORDER_STATES)}

    def refresh_intent(self, intent_id: str) -> None:
        """Recompute an intent's state, filled lots and partial remainder from its orders."""
        writes = JournalWrites()
        totals = intent_totals(self.store.orders(intent_id=intent_id))
        self.store.add_intent_update(writes, intent_id, at=self.now(), **totals)
        self.journal.commit(writes)

    def resolve(self, rows: Iterable[OrderRecord]) -> list[OrderRecord]:
        """Ask the terminal what became of open orders; journal what it shows (an order event
        ``<state>_reconciled`` for each change); return the rows still unresolved."""
        unresolved, touched = [], set()
        for row in rows:
            claimed = self.store.claimed(row.symbol, row.magic) - {row.ticket}
            trace = locate(
                self.terminal,
                planned_order(row),
                ticket=int(row.ticket),
                sent_time=int(row.sent_time),
                claimed=claimed,
            )
            state = state_after(trace, row)
            if len(trace.tickets) > 1:
                logger.critical("order %s: %s", row.order_key, trace.reason)
            if state is OrderState.UNKNOWN:
                unresolved.append(replace(row, state=state.value, reason=trace.reason))
            if state.value == row.state and trace.ticket == row.ticket:
                continue
            if not self._record_resolution(row, state, trace):  # final meanwhile: left alone
                unresolved = [u for u in unresolved if u.order_key != row.order_key]
                self.open.pop(row.order_key, None)
                continue
            touched.add(row.intent_id)
            if state in OPEN_ORDER_STATES:
                self.open[row.order_key] = self.store.orders(order_key=row.order_key)[0]
            else:
                self.open.pop(row.order_key, None)
        for intent_id in touched:
            self.refresh_intent(intent_id)
        return unresolved

    def _record_resolution(self, row: OrderRecord, state: OrderState, trace: Trace) -> bool:
        """Journal what the terminal shows of an open order; False (nothing written) when the
        journal's row is no longer open: an outcome, once final, is never rewritten."""
        found = self.store.orders(order_key=row.order_key)
        current = found[0] if found else None
        if current is None or current.state not in OPEN_ORDER_STATES:
            logger.warning(
                "order %s: journaled as %s meanwhile; not rewritten to %s",
                row.order_key,
                current.state if current else "absent from this account's rows",
                state,
            )
            return False
        at = self.now()
        filled = trace.volume if state in HELD_ORDER_STATES else 0.0
        writes = JournalWrites()
        self.store.add_order_resolution(
            writes,
            row.order_key,
            at=at,
            state=state.value,
            ticket=trace.ticket or row.ticket,
            deal=trace.deal,
            filled_volume=filled,
            price=trace.price,
            matched_by=trace.matched_by,
            reason=trace.reason,
        )
        if state is not OrderState.UNKNOWN:  # still unknown: the row says why; events log outcomes
            routine = row.state == OrderState.PENDING and state is OrderState.FILLED
            logger.log(
                logging.INFO if routine else logging.WARNING,
                "order %s: %s -> %s %s",
                row.order_key,
                row.state,
                state,
                trace.reason,
            )
            writes.add_order_event(
                intent_id=row.intent_id,
                ticket=trace.ticket or int(row.ticket),
                request=row.request or {},
                retcode=row.retcode,
                state=f"{state.value}_reconciled",
                price=trace.price,
                volume=filled,
                slippage_points=0.0,
                latency_seconds=0.0,
                at=at,
                account=self.account,
            )
        self.journal.commit(writes)
        return True
