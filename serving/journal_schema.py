"""The journal's tables (``decisions``, ``order_events``, ``breaker_events``, ``accounts``)
and the statements the decision path runs on them, built once.

``serving.execution.intent_tables`` adds two tables (``intents``, ``intent_orders``) to the same
``metadata``; Alembic migrates them all (``serving.journal_migrations``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
)

metadata = MetaData()

ACCOUNT_LENGTH = 96
"""Room for ``login@server`` (MT5 server names run to ~40 characters)."""


def account_column() -> Column[str]:
    """The ``account`` column every journal table has ("" on rows from before it existed)."""
    return Column("account", String(ACCOUNT_LENGTH), nullable=False, server_default="")


decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(32), primary_key=True),
    Column("bar_time", DateTime(timezone=True), nullable=False),  # no index: read whole (0006)
    Column("symbol", String(32), nullable=False),  # no index: nothing reads by it (0004)
    Column("role", String(16), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("features", JSON, nullable=False),
    Column("signal", Integer, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("size", Float, nullable=False),
    Column("intent_id", String(64), nullable=False),  # no index: nothing reads by it (0005)
    account_column(),
    Column("latency_seconds", Float, nullable=True),  # model.decide; null before 0003
)

order_events = Table(
    "order_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("intent_id", String(64), nullable=False),  # no index: read whole (0006)
    Column("ticket", Integer, nullable=False),
    Column("request", JSON, nullable=False),
    Column("retcode", Integer, nullable=True),
    Column("state", String(32), nullable=False),
    Column("price", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("slippage_points", Float, nullable=False),
    Column("latency_seconds", Float, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    account_column(),
)

breaker_events = Table(
    "breaker_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("breaker", String(32), nullable=False, index=True),
    # trip | reset | reset_requested | baseline | policy (serving.risk.breakers.BreakerEvent)
    Column("event", String(16), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(64), nullable=False),
    Column("value", Float, nullable=True),  # the daily-loss baseline, a policy's target lots
    Column("intent_id", String(64), nullable=True),  # orders a tripped policy sent
    # "" on a reset request from the CLI: whichever worker runs on this home applies it
    account_column(),
)

accounts = Table(
    "accounts",
    metadata,
    # one row per account a worker ever started on, rewritten at each start (revision 0007);
    # never on the decision path: ``serving.account_facts`` writes it once, at start-up
    Column("account", String(ACCOUNT_LENGTH), primary_key=True),  # login@server
    Column("currency", String(16), nullable=False),  # what the terminal values money in
    Column("leverage", Integer, nullable=False),
    Column("margin_mode", Integer, nullable=False),  # ACCOUNT_MARGIN_MODE_* (hedging or not)
    Column("recorded_at", DateTime(timezone=True), nullable=False),  # the start, worker clock
)

INSERT_DECISION = insert(decisions)
INSERT_ORDER_EVENT = insert(order_events)
BREAKER_EVENTS_SINCE = (
    select(breaker_events)
    .where(
        breaker_events.c.event_id > bindparam("after_id"),
        breaker_events.c.account.in_(bindparam("accounts", expanding=True)),
    )
    .order_by(breaker_events.c.event_id)
)
BREAKER_EVENTS_OF_KIND_SINCE = BREAKER_EVENTS_SINCE.where(
    breaker_events.c.event == bindparam("event")
)
