"""Every row carries its account (``login@server``); rows from before say "".

Indexes serve the account-scoped questions: a worker's open orders and book (state, account,
replacing the index on state alone, so a state change updates one index, not two), an
account's decisions in bar order (account, bar_time) and an intent's events (account,
intent_id). Breaker events are read forward from the last id seen: no index needed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("decisions", "order_events", "breaker_events", "intents", "intent_orders")
INDEXES = {
    "ix_decisions_account_bar_time": ("decisions", ["account", "bar_time"]),
    "ix_order_events_account_intent_id": ("order_events", ["account", "intent_id"]),
    "ix_intents_state_account": ("intents", ["state", "account"]),
    "ix_intent_orders_state_account": ("intent_orders", ["state", "account"]),
}


REPLACED = {"ix_intents_state": "intents", "ix_intent_orders_state": "intent_orders"}


def upgrade() -> None:
    for table in TABLES:
        account = sa.Column("account", sa.String(96), nullable=False, server_default="")
        op.add_column(table, account)
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    for name, table in REPLACED.items():
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table in REPLACED.items():
        op.create_index(name, table, ["state"])
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
    for table in TABLES:
        op.drop_column(table, "account")
