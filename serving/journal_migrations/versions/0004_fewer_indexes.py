"""Two indexes no reader uses, dropped: every bar writes them and nothing reads by them.

``ix_decisions_symbol``: decisions are read by account and bar time, or in bar order
(``Journal.read_decisions``), never by symbol alone. ``ix_order_events_intent_id``: a
worker's order events are found by account and intent (``ix_order_events_account_intent_id``,
whose leading column is the account); only ``Journal.read_order_events(intent_id)`` without an
account, a test and debugging aid, asks by intent alone, and scans. Each index is a B-tree
insert and, in WAL, a page written per bar's transaction; the decision path writes one row
per decision and per order.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from serving.journal_migrations.dropped_indexes import drop_indexes, restore_indexes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_decisions_symbol": ("decisions", ["symbol"]),
    "ix_order_events_intent_id": ("order_events", ["intent_id"]),
}


def upgrade() -> None:
    drop_indexes(DROPPED)


def downgrade() -> None:
    restore_indexes(DROPPED)
