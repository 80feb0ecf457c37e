"""The two account indexes of the logs, dropped: no query of the running system reads by them.

Revision 0005 kept ``ix_decisions_account_bar_time`` and ``ix_order_events_account_intent_id``
for "one account's decisions" and "one intent's order events". No reader asks that: the
canary gate reads every decision and every order event (``Journal.read_decisions()``,
``Journal.read_order_events()``), the drift flow a model version's decisions, ``tate status``
and the error budgets every row in bar order (``flows.journal_reader``); the worker and the
executor never read these two tables. Only ``Journal.read_decisions(account=…)`` and
``Journal.read_order_events(intent_id, account=…)`` filter so, tests and debugging aids, which
now scan. Each index cost every bar a B-tree insert per row and, in WAL, one or two pages per
commit (measured on the worker bench: the bar's first commit wrote 17.7 pages, 15.5 without
the decisions index; the second 7.3–11.0, 5.8–9.3 without the order events one).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from serving.journal_migrations.dropped_indexes import drop_indexes, restore_indexes

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_decisions_account_bar_time": ("decisions", ["account", "bar_time"]),
    "ix_order_events_account_intent_id": ("order_events", ["account", "intent_id"]),
}


def upgrade() -> None:
    drop_indexes(DROPPED)


def downgrade() -> None:
    restore_indexes(DROPPED)
