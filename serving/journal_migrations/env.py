"""Alembic's entry point for the journal: runs on the connection ``upgrade_journal`` passes
(``config.attributes["connection"]``), inside the caller's transaction."""

from __future__ import annotations

from alembic import context

import serving.execution.intent_tables  # noqa: F401  (its tables join the journal's metadata)
from serving.journal import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("journal migrations run through serving.journal_migrations.upgrade_journal")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
