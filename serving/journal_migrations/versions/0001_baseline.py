"""Baseline: the journal as it was before Alembic (decisions, order events, breaker events,
intents and intent orders).

Journals written before Alembic (``metadata.create_all``) are unversioned; for them this
revision adopts the tables they have, untouched, and creates only the missing ones (the
intent tables arrived later than the others), so every existing row is kept.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _decisions() -> None:
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(32), primary_key=True),
        sa.Column("bar_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("signal", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("size", sa.Float, nullable=False),
        sa.Column("intent_id", sa.String(64), nullable=False),
    )
    for column in ("bar_time", "symbol", "intent_id"):
        op.create_index(f"ix_decisions_{column}", "decisions", [column])


def _order_events() -> None:
    op.create_table(
        "order_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("intent_id", sa.String(64), nullable=False),
        sa.Column("ticket", sa.Integer, nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("retcode", sa.Integer, nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("volume", sa.Float, nullable=False),
        sa.Column("slippage_points", sa.Float, nullable=False),
        sa.Column("latency_seconds", sa.Float, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_order_events_intent_id", "order_events", ["intent_id"])


def _breaker_events() -> None:
    op.create_table(
        "breaker_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("breaker", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("intent_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_breaker_events_breaker", "breaker_events", ["breaker"])


def _intents() -> None:
    op.create_table(
        "intents",
        sa.Column("intent_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("magic", sa.Integer, nullable=False),
        sa.Column("bar_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("target_volume", sa.Float, nullable=False),
        sa.Column("filled_volume", sa.Float, nullable=False),
        sa.Column("remainder_volume", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("symbol", "magic", "state"):
        op.create_index(f"ix_intents_{column}", "intents", [column])


def _intent_orders() -> None:
    op.create_table(
        "intent_orders",
        sa.Column("order_key", sa.String(80), primary_key=True),
        sa.Column("intent_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("magic", sa.Integer, nullable=False),
        sa.Column("side", sa.Integer, nullable=False),
        sa.Column("volume", sa.Float, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("comment", sa.String(31), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("retcode", sa.Integer, nullable=True),
        sa.Column("ticket", sa.Integer, nullable=False),
        sa.Column("deal", sa.Integer, nullable=False),
        sa.Column("filled_volume", sa.Float, nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent_time", sa.Integer, nullable=False),
        sa.Column("matched_by", sa.String(16), nullable=False),
        sa.Column("request", sa.JSON, nullable=True),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("intent_id", "symbol", "magic", "state"):
        op.create_index(f"ix_intent_orders_{column}", "intent_orders", [column])


TABLES: dict[str, Callable[[], None]] = {
    "decisions": _decisions,
    "order_events": _order_events,
    "breaker_events": _breaker_events,
    "intents": _intents,
    "intent_orders": _intent_orders,
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES.items():
        if name not in existing:
            create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
