"""Six more indexes no reader uses, dropped: each costs the bar's commit a page, none a query.

Every index on a table the decision path writes is a B-tree insert and, in WAL, one more page
written per bar's transaction (and copied again by the next checkpoint). These are read by no
query of the worker, the executor, the reconciliation or the readers (``flows.journal_reader``,
``Journal.read_*``), on SQLite or PostgreSQL:

- ``ix_decisions_bar_time``: decisions are read whole in bar order (``flows.journal_reader``,
  ``Journal.read_decisions``), which reads every row whatever the index; by account, through
  ``ix_decisions_account_bar_time`` (kept).
- ``ix_decisions_intent_id``: nothing asks the database for a decision by its intent (the
  canary evidence joins them in pandas, after reading them all).
- ``ix_intents_symbol``, ``ix_intents_magic``: intents are read by id (primary key), by account
  and state (``ix_intents_state_account``, kept) or all of an account's.
- ``ix_intent_orders_symbol``, ``ix_intent_orders_magic``: the one query by symbol and magic
  (``IntentJournal.claimed``, a reconciliation's tickets already attributed) returns every
  order of that symbol and magic, a third to a sixth of the account's rows: an index of a
  handful of distinct values does not bound it, and it runs on the rare path (an unclear
  answer, an open order at start-up), not per bar.

Kept, because a query needs them for a bounded lookup on a long journal: the primary keys,
``ix_intent_orders_intent_id`` (a bar's orders of its intents, ``next_seq``), the two
``state, account`` indexes (open intents and orders at start-up and per reconciliation),
``ix_decisions_account_bar_time`` (one account's decisions among many replays') and
``ix_order_events_account_intent_id`` (one intent's order events).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from serving.journal_migrations.dropped_indexes import drop_indexes, restore_indexes

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_decisions_bar_time": ("decisions", ["bar_time"]),
    "ix_decisions_intent_id": ("decisions", ["intent_id"]),
    "ix_intents_symbol": ("intents", ["symbol"]),
    "ix_intents_magic": ("intents", ["magic"]),
    "ix_intent_orders_symbol": ("intent_orders", ["symbol"]),
    "ix_intent_orders_magic": ("intent_orders", ["magic"]),
}


def upgrade() -> None:
    drop_indexes(DROPPED)


def downgrade() -> None:
    restore_indexes(DROPPED)
