"""The ``intents`` and ``intent_orders`` tables (``serving.execution.store`` reads and writes
them), the decision path's statements on them, built once (SQLAlchemy caches their compiled
form; ``serving.journal.Journal.commit`` compiles each once for the driver), and the
defaults and stored form of their column values.

Both tables join the journal's ``metadata``: importing this module is what puts them in the
schema the migrations compare against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from serving.execution.intents import OPEN_ORDER_STATES
from serving.journal import account_column, metadata
from serving.utc import to_utc

intents = Table(
    "intents",
    metadata,
    Column("intent_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    # symbol, magic: no index, nothing reads intents by them (revision 0005)
    Column("symbol", String(32), nullable=False),
    Column("magic", Integer, nullable=False),
    Column("bar_time", DateTime(timezone=True), nullable=True),
    Column("target_volume", Float, nullable=False),
    Column("filled_volume", Float, nullable=False, default=0.0),  # signed lots dealt
    # signed lots a partial fill (10010) left undone: tracked, left to the next intent
    Column("remainder_volume", Float, nullable=False, default=0.0),
    Column("state", String(16), nullable=False),
    Column("reason", String(512), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    account_column(),
    Index("ix_intents_state_account", "state", "account"),
)

intent_orders = Table(
    "intent_orders",
    metadata,
    Column("order_key", String(80), primary_key=True),
    Column("intent_id", String(64), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    # symbol, magic: no index; ``claimed`` reads a third of the rows by them (revision 0005)
    Column("symbol", String(32), nullable=False),
    Column("magic", Integer, nullable=False),
    Column("side", Integer, nullable=False),  # +1 buy, -1 sell
    Column("volume", Float, nullable=False),  # lots requested
    Column("position", Integer, nullable=False, default=0),  # hedging ticket closed, 0 opens
    Column("comment", String(31), nullable=False),
    Column("state", String(16), nullable=False),
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
    account_column(),
    Index("ix_intent_orders_state_account", "state", "account"),
)

INTENT_TIMES = ("bar_time", "created_at", "updated_at")  # of intents; orders have the last two

INSERT_INTENT = insert(intents)
UPDATE_INTENT = update(intents).where(intents.c.intent_id == bindparam("key_intent_id"))
INSERT_ORDER = insert(intent_orders)
UPDATE_ORDER = update(intent_orders).where(intent_orders.c.order_key == bindparam("key_order_key"))
OPEN_STATE_PARAMS = {f"open_{state.value}": state.value for state in OPEN_ORDER_STATES}
RESOLVE_ORDER = UPDATE_ORDER.where(
    intent_orders.c.account == bindparam("key_account"),
    intent_orders.c.state.in_([bindparam(name) for name in sorted(OPEN_STATE_PARAMS)]),
)
"""A reconciliation's UPDATE: this account's row, and only while it is open (a final outcome,
once journaled, is never rewritten, whoever read the row as open before)."""
EXISTING_INTENTS = select(intents.c.intent_id).where(
    intents.c.account == bindparam("account"),
    intents.c.intent_id.in_(bindparam("ids", expanding=True)),
)
ORDERS_OF_INTENTS = (
    select(intent_orders)
    .where(
        intent_orders.c.account == bindparam("account"),
        intent_orders.c.intent_id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(intent_orders.c.created_at, intent_orders.c.seq)
)

INTENT_DEFAULTS: dict[str, Any] = {
    "bar_time": None,
    "filled_volume": 0.0,
    "remainder_volume": 0.0,
    "reason": "",
}
ORDER_DEFAULTS: dict[str, Any] = {
    "position": 0,
    "retcode": None,
    "ticket": 0,
    "deal": 0,
    "filled_volume": 0.0,
    "price": 0.0,
    "attempts": 0,
    "sent_time": 0,
    "matched_by": "",
    "request": None,
    "reason": "",
}


def stored_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Column values as stored: UTC times, requests as plain dicts, reasons that fit."""
    values = dict(fields)
    for name in INTENT_TIMES:
        if values.get(name) is not None:
            values[name] = to_utc(values[name])
    if values.get("request") is not None:
        values["request"] = dict(values["request"])
    if "reason" in values:
        values["reason"] = str(values["reason"])[:512]
    return values
