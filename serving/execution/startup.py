"""Start-up reconciliation: the journal and the terminal must agree before the first signal.

``StartupCheck.run`` resolves every open order in the journal against the terminal (orders a
dead process left ``sent``, ``unknown`` or ``pending``), marks intents left ``intended`` that
never sent anything ``abandoned`` (and recomputes those that did from their orders), then
compares, per (symbol, magic) of ours, the lots the journal expects (filled orders, pending
ones, adoptions) with what the terminal holds (positions plus pending market orders).
Positions of other magics are *external*: reported and left alone.

Any unresolved order or disagreement sets ``refusing`` (a reason string the worker logs and
metrics can export) and the executor sends nothing until a later check agrees — the executor
re-checks at each target while refusing, so a terminal that reconnects or a pending order that
fills clears it — or an operator adopts the terminal's state (``adopt``), which is journaled:
unresolved orders become ``adopted`` (never counted) and each difference an ``adopt-…``
intent with one filled order row for the lots the terminal holds beyond the journal.

Everything is the executor's account's (``login@server``): another account's orders are
neither resolved nor counted, so a new simulated account starts with an empty book. Rows from
before the journal had accounts carry "" and belong to no worker's account: a live worker
upgraded over such a journal while holding positions disagrees until an operator adopts them.

Limits: on a netting account one position per symbol carries the magic of the order that
opened it, so an external trade in one of our symbols makes per-magic lots unknowable; the
check then disagrees and says so, which is the safe answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Set
from dataclasses import dataclass

from serving.execution.intents import OPEN_ORDER_STATES, IntentState, OrderState
from serving.execution.open_orders import Reconciler
from serving.execution.reconciler import Disagreement, compare_books, terminal_book
from serving.mt5.types import TradePosition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartupReport:
    """What start-up reconciliation found; ``agreed`` means trading may go on."""

    agreed: bool
    reasons: tuple[str, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    unresolved: tuple[str, ...] = ()  # order keys
    external: tuple[TradePosition, ...] = ()  # positions of other magics, left alone
    abandoned: tuple[str, ...] = ()  # intent ids that never sent anything


class StartupCheck:
    """Runs the check through a ``Reconciler`` (the executor's) and keeps its verdict
    (``refusing``), which the executor reads before trading."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.refusing: str | None = None
        self.last: StartupReport | None = None

    def _settle_intended(self) -> tuple[str, ...]:
        """Intents a dead process left ``intended``: abandoned when it sent nothing; else it
        died between an order's outcome and the intent's, so the intent is refreshed from its
        orders (left alone, it would stay ``intended`` with nothing filled, forever: the
        re-decided bar finds it reached the terminal and skips it)."""
        store, abandoned = self.reconciler.store, []
        for intent in store.intents_in([IntentState.INTENDED]):
            if store.orders(intent_id=intent.intent_id):
                self.reconciler.refresh_intent(intent.intent_id)
            else:
                store.write_intent(
                    intent_id=intent.intent_id,
                    at=self.reconciler.now(),
                    state=IntentState.ABANDONED.value,
                    reason="the process stopped before sending anything",
                )
                abandoned.append(intent.intent_id)
        return tuple(abandoned)

    def run(self, magics: Set[int]) -> StartupReport:
        """Resolve open orders, settle intents left intended, compare the books; sets
        ``refusing``."""
        r = self.reconciler
        unresolved = r.resolve(r.store.orders(states=OPEN_ORDER_STATES))
        abandoned = self._settle_intended()
        reasons = [f"order {row.order_key} unresolved: {row.reason}" for row in unresolved]
        positions, orders = r.terminal.positions_get(), r.terminal.orders_get()
        disagreements: list[Disagreement] = []
        external: tuple[TradePosition, ...] = ()
        if positions is None or orders is None:
            reasons.append(f"the terminal did not answer: {r.terminal.last_error()}")
        else:
            held, external = terminal_book(positions, orders, magics)
            expected = {k: v for k, v in r.store.expected_book().items() if k[1] in magics}
            disagreements = compare_books(expected, held)
            reasons += [str(d) for d in disagreements]
        report = StartupReport(
            agreed=not reasons,
            reasons=tuple(reasons),
            disagreements=tuple(disagreements),
            unresolved=tuple(row.order_key for row in unresolved),
            external=external,
            abandoned=abandoned,
        )
        refusing = "; ".join(reasons) or None
        if refusing != self.refusing:
            if refusing:
                logger.error("refusing to trade until the journal and terminal agree: %s", refusing)
            elif self.refusing:
                logger.warning("journal and terminal agree again; trading resumes")
        if external and (self.last is None or self.last.external != external):
            tickets = [(p.symbol, p.magic, p.ticket) for p in external]
            logger.info("external positions (other magics, left alone): %s", tickets)
        self.refusing, self.last = refusing, report
        return report

    def adopt(self, magics: Set[int], *, by: str, note: str = "") -> StartupReport:
        """Take the terminal's state as the truth for ``magics``, journaled under ``by``."""
        r, at = self.reconciler, self.reconciler.now()
        why = f"adopted by {by}" + (f": {note}" if note else "")
        for row in r.store.orders(states=OPEN_ORDER_STATES):
            if row.magic in magics:
                r.store.write_order(
                    row.order_key, at=at, state=OrderState.ADOPTED.value, reason=why
                )
                r.refresh_intent(row.intent_id)
        positions, orders = r.terminal.positions_get(), r.terminal.orders_get()
        if positions is None or orders is None:
            return self.run(magics)  # nothing to adopt from: still refusing, saying why
        held, _ = terminal_book(positions, orders, magics)
        expected = {k: v for k, v in r.store.expected_book().items() if k[1] in magics}
        for d in compare_books(expected, held):
            diff = round(d.held - d.expected, 8)
            intent_id = f"adopt-{uuid.uuid4().hex[:12]}"
            r.store.write_intent(
                intent_id=intent_id,
                at=at,
                role="adopt",
                symbol=d.symbol,
                magic=d.magic,
                target_volume=d.held,
                state=IntentState.ADOPTED.value,
                reason=f"{why}; was: {d}",
            )
            r.store.write_order(
                f"{intent_id}.0",
                at=at,
                intent_id=intent_id,
                seq=0,
                symbol=d.symbol,
                magic=d.magic,
                side=1 if diff > 0 else -1,
                volume=abs(diff),
                position=0,
                comment="",
                state=OrderState.FILLED.value,
                filled_volume=abs(diff),
                matched_by="adopted",
                reason=why,
            )
            logger.warning("%s: %s", why, d)
        return self.run(magics)
