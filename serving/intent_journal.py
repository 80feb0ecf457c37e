"""The journal's memory of order intents and the orders sent for them (two more tables).

``intents`` has one row per intent (``serving.intents``: its id, role, symbol, magic, bar time,
target, state, filled lots and the remainder a partial fill left); ``intent_orders`` one row per
order sent for it, keyed ``<intent_id>.<seq>``, written and committed in state ``sent`` *before*
``order_send`` and updated with the terminal's answer (ticket, deal, filled lots, price)
afterwards. The order events table (``serving.journal``) stays the log of what happened; these
two tables are the state a restarted worker reconciles against the terminal.

The tables live on the journal's ``metadata`` and are created here when missing, so a journal
file written before they existed gains them on first use. Upserts are read-then-write inside
one transaction: portable between SQLite and PostgreSQL, and only the worker writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from serving.intents import HELD_ORDER_STATES, OrderState
from serving.journal import Journal, _as_utc, _utc, metadata

intents = Table(
    "intents",
    metadata,
    Column("intent_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("symbol", String(32), nullable=False, index=True),
    Column("magic", Integer, nullable=False, index=True),
    Column("bar_time", DateTime(timezone=True), nullable=True),
    Column("target_volume", Float, nullable=False),
    Column("filled_volume", Float, nullable=False, default=0.0),  # signed lots dealt
    # signed lots a partial fill (10010) left undone: tracked, left to the next intent
    Column("remainder_volume", Float, nullable=False, default=0.0),
    Column("state", String(16), nullable=False, index=True),
    Column("reason", String(512), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

intent_orders = Table(
    "intent_orders",
    metadata,
    Column("order_key", String(80), primary_key=True),
    Column("intent_id", String(64), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("symbol", String(32), nullable=False, index=True),
    Column("magic", Integer, nullable=False, index=True),
    Column("side", Integer, nullable=False),  # +1 buy, -1 sell
    Column("volume", Float, nullable=False),  # lots requested
    Column("position", Integer, nullable=False, default=0),  # hedging ticket closed, 0 opens
    Column("comment", String(31), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("retcode", Integer, nullable=True),
    Column("ticket", Integer, nullable=False, default=0),  # order ticket, 0 when unknown
    Column("deal", Integer, nullable=False, default=0),
    Column("filled_volume", Float, nullable=False, default=0.0),  # lots dealt (unsigned)
    Column("price", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_time", Integer, nullable=False, default=0),  # terminal time at the last send
    Column("matched_by", String(16), nullable=False, default=""),  # answer|ticket|comment|...
    Column("request", JSON, nullable=True),
    Column("reason", String(512), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_TIMES = ("bar_time", "created_at", "updated_at")


def _row(mapping: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(mapping)
    for name in _TIMES:
        if row.get(name) is not None:
            row[name] = _as_utc(row[name])
    return row


class IntentJournal:
    """Intents and their orders in the journal's database (tables created when missing)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.engine = journal.engine
        metadata.create_all(self.engine, tables=[intents, intent_orders])

    # -- intents -------------------------------------------------------------------------
    def intent(self, intent_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(intents).where(intents.c.intent_id == intent_id)).first()
        return None if row is None else _row(row._mapping)

    def write_intent(self, *, intent_id: str, at: datetime, **fields: Any) -> None:
        """Insert the intent, or update the given fields of an existing one."""
        values = {k: (_utc(v) if k in _TIMES and v is not None else v) for k, v in fields.items()}
        if "reason" in values:
            values["reason"] = str(values["reason"])[:512]
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(intents.c.intent_id).where(intents.c.intent_id == intent_id)
            ).first()
            if exists:
                conn.execute(
                    update(intents)
                    .where(intents.c.intent_id == intent_id)
                    .values(**values, updated_at=_utc(at))
                )
            else:
                values.setdefault("reason", "")
                conn.execute(
                    insert(intents).values(
                        intent_id=intent_id, **values, created_at=_utc(at), updated_at=_utc(at)
                    )
                )

    def intents_in(self, states: Iterable[str]) -> list[dict[str, Any]]:
        query = select(intents).where(intents.c.state.in_([str(s) for s in states]))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query.order_by(intents.c.created_at)).mappings()]

    # -- orders --------------------------------------------------------------------------
    def write_order(self, order_key: str, *, at: datetime, **fields: Any) -> None:
        """Insert the order row, or update the given fields of an existing one (committed)."""
        values = dict(fields)
        if "request" in values:
            values["request"] = json.loads(json.dumps(dict(values["request"]), default=str))
        if "reason" in values:
            values["reason"] = str(values["reason"])[:512]
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(intent_orders.c.order_key).where(intent_orders.c.order_key == order_key)
            ).first()
            if exists:
                conn.execute(
                    update(intent_orders)
                    .where(intent_orders.c.order_key == order_key)
                    .values(**values, updated_at=_utc(at))
                )
            else:
                conn.execute(
                    insert(intent_orders).values(
                        order_key=order_key, **values, created_at=_utc(at), updated_at=_utc(at)
                    )
                )

    def orders(
        self,
        *,
        intent_id: str | None = None,
        states: Iterable[str] | None = None,
        symbol: str | None = None,
        magic: int | None = None,
    ) -> list[dict[str, Any]]:
        """Order rows, oldest first, filtered by whatever is given."""
        query = select(intent_orders).order_by(intent_orders.c.created_at, intent_orders.c.seq)
        if intent_id is not None:
            query = query.where(intent_orders.c.intent_id == intent_id)
        if states is not None:
            query = query.where(intent_orders.c.state.in_([str(s) for s in states]))
        if symbol is not None:
            query = query.where(intent_orders.c.symbol == symbol)
        if magic is not None:
            query = query.where(intent_orders.c.magic == magic)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def next_seq(self, intent_id: str) -> int:
        """The number the intent's next order gets (a re-execution never reuses a key)."""
        seqs = [row["seq"] for row in self.orders(intent_id=intent_id)]
        return max(seqs) + 1 if seqs else 0

    def claimed(self, symbol: str, magic: int) -> frozenset[int]:
        """Order tickets already attributed to one of our orders in (symbol, magic)."""
        query = select(intent_orders.c.ticket).where(
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
        query = select(
            intent_orders.c.symbol,
            intent_orders.c.magic,
            intent_orders.c.side,
            intent_orders.c.state,
            intent_orders.c.volume,
            intent_orders.c.filled_volume,
        ).where(intent_orders.c.state.in_([*held, OrderState.PENDING.value]))
        with self.engine.connect() as conn:
            for symbol, magic, side, state, volume, filled in conn.execute(query):
                lots = filled if state in held else volume
                key = (symbol, int(magic))
                book[key] = round(book.get(key, 0.0) + side * lots, 8)
        return book

    # -- reading -------------------------------------------------------------------------
    def read_intents(self) -> pd.DataFrame:
        """Intents, oldest first (times tz-aware UTC)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(intents).order_by(intents.c.created_at)).mappings().all()
        frame = pd.DataFrame([_row(r) for r in rows], columns=intents.c.keys())
        for name in _TIMES:
            frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame

    def read_orders(self) -> pd.DataFrame:
        """Order rows, oldest first (times tz-aware UTC)."""
        frame = pd.DataFrame(self.orders(), columns=intent_orders.c.keys())
        for name in ("created_at", "updated_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame
