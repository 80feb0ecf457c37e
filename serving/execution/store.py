"""The journal's memory of order intents and the orders sent for them (two more tables).

``intents`` has one row per intent (``serving.execution.intents``: its id, role, symbol, magic, bar time,
target, state, filled lots and the remainder a partial fill left); ``intent_orders`` one row per
order sent for it, keyed ``<intent_id>.<seq>``, committed in state ``sent`` *before*
``order_send`` and updated with the terminal's answer (ticket, deal, filled lots, price)
afterwards. The order events table (``serving.journal``) stays the log of what happened; these
two tables are the state a restarted worker reconciles against the terminal.

An ``IntentJournal`` is one account's view: it writes that account on every row and reads only
that account's rows, so a new simulated account starts with an empty book and a live
account's reconciliation never sees another account's orders. (Intent ids are unique across
accounts: the worker's include the account.)

Two ways to write. The decision path adds plain INSERTs and UPDATEs by key to a
``JournalWrites`` (the executor knows whether a row exists), committed with the rest of the
bar. Rare paths (start-up, adoption, reconciliation) use ``write_intent`` / ``write_order``,
which commit at once and read first when they do not know whether the row exists.

Reads return frozen records (``serving.execution.records``), never dicts. An order the
executor is sending is a record too (``new_order``); ``update_order`` adds an UPDATE and
returns the record as the journal will hold it once the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from serving.execution.intent_tables import (
    EXISTING_INTENTS,
    INSERT_INTENT,
    INSERT_ORDER,
    INTENT_DEFAULTS,
    INTENT_TIMES,
    OPEN_STATE_PARAMS,
    ORDER_DEFAULTS,
    ORDERS_OF_INTENTS,
    RESOLVE_ORDER,
    UPDATE_INTENT,
    UPDATE_ORDER,
    intent_orders,
    intents,
    stored_values,
)
from serving.execution.intents import HELD_ORDER_STATES, IntentState, OrderState, PlannedOrder
from serving.execution.records import (
    IntentRecord,
    OrderRecord,
    intent_record,
    order_of,
    order_record,
)
from serving.journal import JournalWrites
from serving.ports import JournalDatabase
from serving.utc import as_utc, to_utc

_INTENDED = IntentState.INTENDED.value
_SENT = OrderState.SENT.value


class IntentJournal:
    """One account's intents and their orders in the journal's database.

    Args:
        journal: the journal (already migrated to the current schema when opened).
        account: ``login@server`` written on every row and the only account read back.
    """

    def __init__(self, journal: JournalDatabase, account: str = "") -> None:
        self.journal, self.account = journal, account
        self.engine = journal.engine

    # -- rows for the decision path (plain INSERT / UPDATE by key, committed by the caller) --
    def add_intent(
        self, writes: JournalWrites, *, intent_id: str, at: datetime, exists: bool, **fields: Any
    ) -> None:
        """Add the intent's INSERT (a complete row) or, when it ``exists``, the UPDATE of the
        given fields."""
        if exists:
            self.add_intent_update(writes, intent_id, at=at, **fields)
            return
        row = stored_values({**INTENT_DEFAULTS, **fields, "created_at": at, "updated_at": at})
        writes.add(INSERT_INTENT, {"intent_id": intent_id, **row, "account": self.account})

    def add_intent_update(
        self, writes: JournalWrites, intent_id: str, *, at: datetime, **fields: Any
    ) -> None:
        values = stored_values({**fields, "updated_at": at})
        writes.add(UPDATE_INTENT, {"key_intent_id": intent_id, **values})

    def add_intended(
        self,
        writes: JournalWrites,
        intent_id: str,
        at: datetime,
        role: str,
        symbol: str,
        magic: int,
        target_volume: float,
        bar_time: datetime | None,
    ) -> None:
        """Add the INSERT of a new intent in state ``intended``: the row ``add_intent`` adds
        for it (same columns, same order, same values), by position. The executor adds one
        per target it sends orders for; keywords and the generic merge cost more than it."""
        at = to_utc(at)
        writes.add(
            INSERT_INTENT,
            {
                "intent_id": intent_id,
                "bar_time": None if bar_time is None else to_utc(bar_time),
                "filled_volume": 0.0,
                "remainder_volume": 0.0,
                "reason": "",
                "state": _INTENDED,
                "role": role,
                "symbol": symbol,
                "magic": magic,
                "target_volume": target_volume,
                "created_at": at,
                "updated_at": at,
                "account": self.account,
            },
        )

    def add_intent_state(
        self,
        writes: JournalWrites,
        intent_id: str,
        at: datetime,
        state: str,
        filled_volume: float,
        remainder_volume: float,
    ) -> None:
        """Add the UPDATE of the columns an intent's orders decide (``intent_totals``): the
        row ``add_intent_update`` adds for them, by position (one per trade sent)."""
        writes.add(
            UPDATE_INTENT,
            {
                "key_intent_id": intent_id,
                "state": state,
                "filled_volume": filled_volume,
                "remainder_volume": remainder_volume,
                "updated_at": to_utc(at),
            },
        )

    def new_order(self, order_key: str, *, at: datetime, **fields: Any) -> OrderRecord:
        """A complete ``intent_orders`` row, not yet written (``add_order`` inserts it)."""
        row = stored_values({**ORDER_DEFAULTS, **fields, "created_at": at, "updated_at": at})
        return order_of({**row, "order_key": order_key, "account": self.account})

    def sending_order(self, order: PlannedOrder, at: datetime, sent_time: int) -> OrderRecord:
        """The row of a planned order about to be sent, in state ``sent``: what
        ``new_order(order.key, at=at, **order_fields(order), state="sent",
        sent_time=sent_time)`` returns, built column by column in the table's order."""
        at = to_utc(at)
        record = object.__new__(OrderRecord)
        record.__dict__.update(
            order_key=order.key,
            intent_id=order.intent_id,
            seq=order.seq,
            symbol=order.symbol,
            magic=order.magic,
            side=1 if order.buy else -1,
            volume=order.volume,
            position=order.position,
            comment=order.comment,
            state=_SENT,
            retcode=None,
            ticket=0,
            deal=0,
            filled_volume=0.0,
            price=0.0,
            attempts=0,
            sent_time=sent_time,
            matched_by="",
            request=None,
            reason="",
            created_at=at,
            updated_at=at,
            account=self.account,
        )
        return record

    def add_order(self, writes: JournalWrites, order: OrderRecord) -> None:
        """Add the INSERT of a complete order row (``new_order``)."""
        writes.add(INSERT_ORDER, order.columns())

    def add_order_update(
        self, writes: JournalWrites, order_key: str, *, at: datetime, **fields: Any
    ) -> None:
        values = stored_values({**fields, "updated_at": at})
        writes.add(UPDATE_ORDER, {"key_order_key": order_key, **values})

    def add_order_resolution(
        self, writes: JournalWrites, order_key: str, *, at: datetime, **fields: Any
    ) -> None:
        """Add a reconciliation's UPDATE of an open order (``RESOLVE_ORDER``: a no-op on
        another account's row or on a final one)."""
        values = stored_values({**fields, "updated_at": at})
        params = {"key_order_key": order_key, "key_account": self.account, **OPEN_STATE_PARAMS}
        writes.add(RESOLVE_ORDER, {**params, **values})

    def update_order(
        self, writes: JournalWrites, order: OrderRecord, *, at: datetime, **fields: Any
    ) -> OrderRecord:
        """Add the UPDATE of ``fields`` of ``order`` (``add_order_update``); returns the
        record as the journal will hold it once ``writes`` commits."""
        values = stored_values({**fields, "updated_at": at})
        writes.add(UPDATE_ORDER, {"key_order_key": order.order_key, **values})
        return order.updated(values)

    def settle_order(
        self,
        writes: JournalWrites,
        order: OrderRecord,
        at: datetime,
        state: str,
        retcode: int | None,
        ticket: int,
        deal: int,
        filled_volume: float,
        price: float,
        attempts: int,
        sent_time: int,
        matched_by: str,
        request: Mapping[str, Any] | None,
        reason: str,
    ) -> OrderRecord:
        """``update_order`` of an order's answer (these columns, in this order), by
        position: one per order sent."""
        values = {
            "state": state,
            "retcode": retcode,
            "ticket": ticket,
            "deal": deal,
            "filled_volume": filled_volume,
            "price": price,
            "attempts": attempts,
            "sent_time": sent_time,
            "matched_by": matched_by,
            "request": None if request is None else dict(request),
            "reason": str(reason)[:512],
            "updated_at": to_utc(at),
        }
        writes.add(UPDATE_ORDER, {"key_order_key": order.order_key, **values})
        return order.updated(values)

    # -- rare paths: committed at once -------------------------------------------------------
    def write_intent(self, *, intent_id: str, at: datetime, **fields: Any) -> None:
        """Insert the intent, or update the given fields of an existing one (committed)."""
        writes = JournalWrites()
        exists = self.intent(intent_id) is not None
        self.add_intent(writes, intent_id=intent_id, at=at, exists=exists, **fields)
        self.journal.commit(writes)

    def write_order(self, order_key: str, *, at: datetime, **fields: Any) -> None:
        """Insert the order row, or update the given fields of an existing one (committed)."""
        writes = JournalWrites()
        if self.orders(order_key=order_key):
            self.add_order_update(writes, order_key, at=at, **fields)
        else:
            self.add_order(writes, self.new_order(order_key, at=at, **fields))
        self.journal.commit(writes)

    # -- reading (this account only) -----------------------------------------------------
    def intent(self, intent_id: str) -> IntentRecord | None:
        query = select(intents).where(
            intents.c.intent_id == intent_id, intents.c.account == self.account
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else intent_record(row._mapping)

    def intents_and_orders(self, intent_ids: Sequence[str]) -> tuple[set[str], list[OrderRecord]]:
        """Which of ``intent_ids`` exist, and their order rows (one connection for a bar)."""
        if not intent_ids:
            return set(), []
        account = {"account": self.account}
        with self.engine.connect() as conn:
            found = conn.execute(EXISTING_INTENTS, {**account, "ids": list(intent_ids)})
            known = {str(intent_id) for intent_id in found.scalars()}
            if not known:
                return known, []
            rows = conn.execute(ORDERS_OF_INTENTS, {**account, "ids": sorted(known)})
            return known, [order_record(r) for r in rows.mappings()]

    def newest_bar_time(self) -> datetime | None:
        """The newest bar any of this account's intents was decided on."""
        query = select(func.max(intents.c.bar_time)).where(intents.c.account == self.account)
        with self.engine.connect() as conn:
            newest = conn.execute(query).scalar()
        return None if newest is None else as_utc(newest)

    def intents_in(self, states: Iterable[str]) -> list[IntentRecord]:
        query = select(intents).where(
            intents.c.account == self.account, intents.c.state.in_([str(s) for s in states])
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(intents.c.created_at)).mappings()
            return [intent_record(r) for r in rows]

    def orders(
        self,
        *,
        order_key: str | None = None,
        intent_id: str | None = None,
        intent_ids: Iterable[str] | None = None,
        states: Iterable[str] | None = None,
        symbol: str | None = None,
        magic: int | None = None,
    ) -> list[OrderRecord]:
        """Order rows, oldest first, filtered by whatever is given."""
        c = intent_orders.c
        query = select(intent_orders).where(c.account == self.account).order_by(c.created_at, c.seq)
        if order_key is not None:
            query = query.where(c.order_key == order_key)
        if intent_id is not None:
            query = query.where(c.intent_id == intent_id)
        if intent_ids is not None:
            query = query.where(c.intent_id.in_(list(intent_ids)))
        if states is not None:
            query = query.where(c.state.in_([str(s) for s in states]))
        if symbol is not None:
            query = query.where(c.symbol == symbol)
        if magic is not None:
            query = query.where(c.magic == magic)
        with self.engine.connect() as conn:
            return [order_record(r) for r in conn.execute(query).mappings()]

    def next_seq(self, intent_id: str) -> int:
        """The number the intent's next order gets (a re-execution never reuses a key)."""
        seqs = [order.seq for order in self.orders(intent_id=intent_id)]
        return max(seqs) + 1 if seqs else 0

    def claimed(self, symbol: str, magic: int) -> frozenset[int]:
        """Order tickets already attributed to one of our orders in (symbol, magic)."""
        query = select(intent_orders.c.ticket).where(
            intent_orders.c.account == self.account,
            intent_orders.c.symbol == symbol,
            intent_orders.c.magic == magic,
            intent_orders.c.ticket != 0,
        )
        with self.engine.connect() as conn:
            return frozenset(int(t) for t in conn.execute(query).scalars())

    def expected_book(self) -> dict[tuple[str, int], float]:
        """Signed lots the journal says each (symbol, magic) holds: what filled, plus what is
        placed and waiting (pending), plus operators' adoptions."""
        held = {str(s) for s in HELD_ORDER_STATES}
        book: dict[tuple[str, int], float] = {}
        c = intent_orders.c
        query = select(c.symbol, c.magic, c.side, c.state, c.volume, c.filled_volume).where(
            c.account == self.account, c.state.in_([*held, OrderState.PENDING.value])
        )
        with self.engine.connect() as conn:
            for symbol, magic, side, state, volume, filled in conn.execute(query):
                lots = filled if state in held else volume
                key = (symbol, int(magic))
                book[key] = round(book.get(key, 0.0) + side * lots, 8)
        return book

    def read_intents(self) -> pd.DataFrame:
        """Intents, oldest first (times tz-aware UTC)."""
        query = select(intents).where(intents.c.account == self.account)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(intents.c.created_at)).mappings().all()
        records = [intent_record(r).columns() for r in rows]
        frame = pd.DataFrame(records, columns=intents.c.keys())
        for name in INTENT_TIMES:
            frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame

    def read_orders(self) -> pd.DataFrame:
        """Order rows, oldest first (times tz-aware UTC)."""
        records = [order.columns() for order in self.orders()]
        frame = pd.DataFrame(records, columns=intent_orders.c.keys())
        for name in ("created_at", "updated_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame
