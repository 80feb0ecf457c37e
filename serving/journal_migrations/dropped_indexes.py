"""What the revisions that drop unread indexes share: dropping them, and their downgrade
re-creating them. A revision names its indexes as ``{name: (table, columns)}``; this code
never changes what a revision does, so the history stays as it was written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alembic import op

Indexes = Mapping[str, tuple[str, Sequence[str]]]


def drop_indexes(dropped: Indexes) -> None:
    for name, (table, _) in dropped.items():
        op.drop_index(name, table_name=table)


def restore_indexes(dropped: Indexes) -> None:
    for name, (table, columns) in dropped.items():
        op.create_index(name, table, list(columns))
