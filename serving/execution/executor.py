"""OrderExecutor: orders through the broker with a journal that survives a crash anywhere.

The worker hands a bar's targets, one per decision, to ``OrderExecutor.trade``. In order:

1. **Refuse** while start-up reconciliation disagrees (``serving.execution.startup``), saying why.
2. **Resolve** each (symbol, magic)'s open orders — ``sent`` (maybe sent, e.g. by a process
   that died), ``unknown`` and ``pending`` — against the terminal (``serving.execution.open_orders``).
3. **Once per intent**: an intent one of whose orders reached the terminal (filled, partial,
   pending, or still unresolved) is never executed again, so a restarted worker re-deciding
   the same bar sends nothing twice. An intent whose orders were all proven absent, rejected
   or never sent may run again, under new order keys.
4. **Block** while an order of this (symbol, magic) stays unresolved: sending more without
   knowing the position could double it.
5. **Intend, then send**: the broker plans every target's orders; then one transaction
   commits the bar's decision rows (the worker's), its intents and every order row in state
   ``sent``; only then are the orders sent, and their answers — order rows, intent states and
   the worker's order events — are committed together in a second transaction. A target
   already held writes nothing beyond the worker's decision row.

Two commits per bar, whatever the number of decisions: the journal is still the truth after
a crash, because an order row says ``sent`` (maybe sent) from before its ``order_send`` until
its answer is committed, and ``sent`` rows are reconciled against the terminal before that
(symbol, magic) trades again (here, and at start-up). An order planned but not sent (a
breaker tripped by an earlier order of the bar, or the order before it ended unknown or
operational) is written ``absent`` with the reason: it provably never left.

The per-bar reads are one query for which of the bar's intents already exist and one for
the account's open orders; nothing reads whole tables on the decision path. Everything is
scoped to the executor's ``account`` (``serving.execution.store``).

``crash`` is a test hook called at the three points a process can die between journal and
terminal: ``"intent"`` (the bar's rows committed, nothing sent), ``"sent"`` (before each
``order_send``) and ``"answered"`` (sent, answer not journaled). A test raises there and then
builds a new executor over the same journal and terminal — a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from serving.execution.events import OrderEvent, choose_filling
from serving.execution.intents import (
    OPEN_ORDER_STATES,
    IntentState,
    OrderState,
    PlannedOrder,
    reached_terminal,
)
from serving.execution.open_orders import Reconciler, state_after
from serving.execution.outcomes import STOP_OUTCOMES, Outcome
from serving.execution.records import OrderRecord
from serving.execution.startup import StartupCheck, StartupReport
from serving.execution.store import IntentJournal
from serving.execution.trades import (
    Target,
    Trade,
    TradeLog,
    bar_datetime,
    intent_fields,
    intent_totals,
    intent_totals_of,
    planned_order,
)
from serving.journal import JournalWrites
from serving.mt5.terminal import Terminal
from serving.ports import Broker, JournalDatabase

__all__ = ["OrderExecutor", "Target", "Trade", "planned_order", "state_after"]

logger = logging.getLogger(__name__)

Crash = Callable[[str], None]
Record = Callable[[OrderEvent, str, JournalWrites], None]
"""``(event, role, writes)``: the worker's record of an order event, added to ``writes``."""


def _no_crash(point: str) -> None:
    return None


class OrderExecutor:
    """Journal-backed execution of the worker's targets (see the module docstring).

    Args:
        journal: the worker's journal.
        terminal: the terminal the brokers trade on (read for reconciliation only).
        account: ``login@server``; the executor reads and writes this account's rows only.
        now: the event timestamp source (the worker's clock).
        crash: test hook, called with "intent", "sent" or "answered".

    ``refusing`` is None while trading is allowed, else the reason (for logs and metrics).
    """

    def __init__(
        self,
        journal: JournalDatabase,
        terminal: Terminal,
        *,
        account: str = "",
        now: Callable[[], datetime] | None = None,
        crash: Crash | None = None,
    ) -> None:
        self.journal, self.terminal, self.account = journal, terminal, account
        self.store = IntentJournal(journal, account)
        self.now = now or (lambda: datetime.now(UTC))
        self.crash = crash or _no_crash
        self.reconciler = Reconciler(journal, self.store, terminal, self.now)
        self.startup = StartupCheck(self.reconciler)
        self.magics: set[int] = set()
        # the journal's state, mirrored (only this worker writes this account's rows): open
        # orders by key (``reconciler.open``), and the newest bar an intent of the account was
        # decided on
        self._newest: int | None = None

    @property
    def refusing(self) -> str | None:
        return self.startup.refusing

    def start_up(self, magics: Iterable[int]) -> StartupReport:
        """Reconcile the journal with the terminal for ``magics`` before the first signal;
        trading is refused until they agree (``serving.execution.startup``)."""
        self.magics |= set(magics)
        report = self.startup.run(self.magics)
        self._mirror()
        return report

    def adopt_terminal_state(self, by: str, note: str = "") -> StartupReport:
        """Accept the terminal's positions as the truth, journaled under ``by``."""
        report = self.startup.adopt(self.magics, by=by, note=note)
        self._mirror()
        return report

    def _mirror(self) -> None:
        """Read the state the decision path keeps in memory from the journal."""
        self.reconciler.mirror()
        newest = self.store.newest_bar_time()
        self._newest = None if newest is None else int(newest.timestamp())

    def _may_exist(self, target: Target) -> bool:
        """Whether the target's intent may already be journaled, i.e. its bar is not newer
        than the newest bar of the account's intents (only this worker writes them).

        An intent id names one decided bar (the worker's ids hash the bar time). An id that
        broke this and was journaled under another bar would collide with its own row: the
        bar's first transaction fails and nothing is sent — never twice.
        """
        newest = self._newest
        return target.bar_time is None or (newest is not None and target.bar_time <= newest)

    # -- the decision path -------------------------------------------------------------------
    def trade(
        self,
        targets: Sequence[Target],
        writes: JournalWrites | None = None,
        *,
        record: Record | None = None,
        withhold: Callable[[], str | None] | None = None,
    ) -> list[OrderEvent]:
        """Bring every target about, durably, in two transactions: ``writes`` (the caller's
        rows, e.g. decisions) with every intent and order row before the first send, the
        answers after the last. Returns the events of the orders sent (maybe none).

        Args:
            targets: one per decision; at most one per intent id.
            writes: rows to commit with the first transaction (emptied).
            record: hears every event, and may add rows to the second transaction.
            withhold: asked before each target is sent; a reason means send nothing more
                (e.g. a breaker tripped by an earlier order of the bar).
        """
        writes = JournalWrites() if writes is None else writes
        trades = self.prepare(targets, writes)
        self.journal.commit(writes)
        bars = [t.bar_time for t in targets if t.bar_time is not None]
        if bars:
            self._newest = max(bars) if self._newest is None else max(self._newest, *bars)
        mirror = self.reconciler.open
        for trade in trades:  # records are frozen: the mirror changes only with what was committed
            for order in trade.orders:
                mirror[order.key] = trade.rows[order.key]
        if any(trade.orders for trade in trades):
            self.crash("intent")
        events: list[OrderEvent] = []
        for trade in trades:
            try:
                sent = self.send(trade, writes, withhold=withhold() if withhold else None)
            except Exception:  # its rows stay "sent": reconciled before the symbol trades again
                logger.exception("%s %s: sending failed", trade.target.role, trade.target.symbol)
                continue
            for event in sent:
                if record is not None:
                    record(event, trade.target.role, writes)
            events += sent
        self.journal.commit(writes)
        for trade in trades:
            for order in trade.orders:
                row = trade.rows[order.key]
                if row.state in OPEN_ORDER_STATES:
                    self.reconciler.open[order.key] = row
                else:
                    self.reconciler.open.pop(order.key, None)
        return events

    def rebalance(
        self,
        broker: Broker,
        symbol: str,
        target_volume: float,
        *,
        intent_id: str,
        role: str,
        bar_time: int | None = None,
    ) -> list[OrderEvent]:
        """Bring ``broker``'s magic to ``target_volume`` lots in ``symbol`` under
        ``intent_id``, durably (``trade`` with one target); returns the events of the orders
        sent (maybe none)."""
        return self.trade([Target(broker, symbol, target_volume, intent_id, role, bar_time)])

    def prepare(self, targets: Sequence[Target], writes: JournalWrites) -> list[Trade]:
        """Check and plan every target; add its intent and order rows to ``writes``. Returns
        the trades to send (targets already held, refused or blocked return nothing)."""
        if not targets:
            return []
        magics = {t.broker.magic for t in targets}
        if not magics <= self.magics or self.startup.refusing:
            self.start_up(magics)
        ids = [t.intent_id for t in targets if self._may_exist(t)]
        known, earlier_rows = self.store.intents_and_orders(ids)
        earlier: dict[str, list[OrderRecord]] = {}
        for row in earlier_rows:
            earlier.setdefault(row.intent_id, []).append(row)
        waiting: dict[tuple[str, int], list[OrderRecord]] = {}
        for row in list(self.reconciler.open.values()):
            waiting.setdefault((row.symbol, int(row.magic)), []).append(row)
        trades, seen = [], set()
        for t in targets:
            if t.intent_id in seen:
                logger.error(
                    "intent %s targeted twice in one bar; the second is ignored", t.intent_id
                )
                continue
            seen.add(t.intent_id)
            try:
                trade = self._prepare(
                    t,
                    t.intent_id in known,
                    earlier.get(t.intent_id, []),
                    waiting.get((t.symbol, t.broker.magic), []),
                    writes,
                )
            except Exception:
                logger.exception("%s %s: planning failed; nothing sent", t.role, t.symbol)
                continue
            if trade is not None:
                trades.append(trade)
        return trades

    def _prepare(
        self,
        t: Target,
        exists: bool,
        rows: list[OrderRecord],
        waiting: list[OrderRecord],
        writes: JournalWrites,
    ) -> Trade | None:
        if refusing := self.startup.refusing:  # (not the property: a call per target)
            if not reached_terminal(row.state for row in rows):
                self._mark(writes, t, exists, IntentState.REFUSED, refusing)
            logger.warning("not trading %s %s: %s", t.role, t.symbol, refusing)
            return None
        unresolved = self.reconciler.resolve(waiting) if waiting else []
        if waiting and exists:  # resolving may have settled this intent's own orders
            rows = self.store.orders(intent_id=t.intent_id)
        if rows and reached_terminal(row.state for row in rows):
            logger.info("intent %s already reached the terminal; not sent again", t.intent_id)
            return None
        if unresolved:
            why = "; ".join(f"{row.order_key}: {row.reason}" for row in unresolved)
            self._mark(writes, t, exists, IntentState.BLOCKED, f"unresolved orders: {why}")
            logger.error("%s %s blocked by unresolved orders: %s", t.role, t.symbol, why)
            return None
        first_seq = max(row.seq for row in rows) + 1 if rows else 0
        orders = t.broker.plan(t.symbol, t.volume, intent_id=t.intent_id, first_seq=first_seq)
        if orders is None:  # the symbol could not be read: nothing planned, nothing sent
            event = self._unreadable(t)
            self._mark(writes, t, exists, IntentState.REJECTED, event.message)
            return Trade(t, rejected=event)
        if not orders:
            return None  # already at target: the decision row says so, no intent to keep
        at = self.now()
        tick = self.terminal.symbol_info_tick(t.symbol)
        sent_time = int(tick.time) if tick is not None else 0  # no later than the sends
        trade = Trade(t, orders, {row.order_key: row for row in rows} if rows else {})
        store = self.store
        if exists:
            store.add_intent(
                writes,
                intent_id=t.intent_id,
                at=at,
                exists=True,
                state=IntentState.INTENDED.value,
                reason="",
                **intent_fields(t),
            )
        else:
            bar_time = None if t.bar_time is None else bar_datetime(t.bar_time)
            store.add_intended(
                writes, t.intent_id, at, t.role, t.symbol, t.broker.magic, t.volume, bar_time
            )
        for order in orders:
            row = store.sending_order(order, at, sent_time)
            store.add_order(writes, row)
            trade.rows[order.key] = row
        return trade

    def send(
        self, trade: Trade, writes: JournalWrites, *, withhold: str | None = None
    ) -> list[OrderEvent]:
        """Send a planned trade's orders (its rows committed); add their answers, the orders
        not sent and the intent's new state to ``writes``."""
        if trade.rejected is not None:
            return [trade.rejected]
        t = trade.target
        if withhold:
            self._unsent(trade, trade.orders, f"not sent: {withhold}", writes)
            logger.warning("%s %s: orders withheld: %s", t.role, t.symbol, withhold)
            return []
        info = self.terminal.symbol_info(t.symbol)
        if info is None:
            event = self._unreadable(t)
            self._unsent(trade, trade.orders, f"not sent: {event.message}", writes)
            return [event]
        filling = choose_filling(info.filling_mode)
        log = TradeLog(self.store, trade, writes, crash=self.crash, now=self.now)
        events: list[OrderEvent] = []
        for i, order in enumerate(trade.orders):
            events.append(t.broker.submit(order, filling=filling, point=info.point, log=log))
            if events[-1].outcome in STOP_OUTCOMES:
                # the book is uncertain or a human must act: send nothing more
                why = f"not sent: {order.key} ended {events[-1].state}"
                self._unsent(trade, trade.orders[i + 1 :], why, writes, refresh=False)
                break
        self.store.add_intent_state(writes, t.intent_id, self.now(), *intent_totals_of(trade.rows))
        return events

    def _unsent(
        self,
        trade: Trade,
        orders: Sequence[PlannedOrder],
        reason: str,
        writes: JournalWrites,
        *,
        refresh: bool = True,
    ) -> None:
        """Orders committed ``sent`` that were never sent: provably absent."""
        at = self.now()
        for order in orders:
            trade.rows[order.key] = self.store.update_order(
                writes,
                trade.rows[order.key],
                at=at,
                state=OrderState.ABSENT.value,
                matched_by="unsent",
                reason=reason,
            )
        if refresh:
            totals = intent_totals(trade.rows.values())
            self.store.add_intent_update(writes, trade.target.intent_id, at=at, **totals)

    def _unreadable(self, t: Target) -> OrderEvent:
        return OrderEvent(
            intent_id=t.intent_id,
            symbol=t.symbol,
            magic=t.broker.magic,
            comment="",
            outcome=Outcome.REJECTED,
            retcode=None,
            message=f"{self.terminal.last_error()}",
            at=self.now(),
        )

    def _mark(
        self,
        writes: JournalWrites,
        t: Target,
        exists: bool,
        state: IntentState,
        reason: str,
    ) -> None:
        self.store.add_intent(
            writes,
            intent_id=t.intent_id,
            at=self.now(),
            exists=exists,
            state=state.value,
            reason=reason,
            **intent_fields(t),
        )
