"""The journal's WAL is checkpointed on a thread of its own, so no bar's commit pays for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from serving.journal import Journal

BAR = datetime(2024, 3, 1, 10, tzinfo=UTC)


def _record(journal: Journal, ticket: int) -> None:
    journal.record_order_event(
        intent_id=f"intent-{ticket}", ticket=ticket, request={"symbol": "EURUSD"},
        retcode=10009, state="filled", price=1.1, volume=0.1, slippage_points=0.0,
        latency_seconds=0.001, at=BAR,
    )  # fmt: skip


def test_commits_wake_a_background_checkpoint_that_copies_the_wal_into_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(f"sqlite:///{path}")
    checkpointer = journal.checkpointer
    assert checkpointer is not None
    checkpointer.every_commits = 5
    before = path.stat().st_size
    for ticket in range(4):
        _record(journal, ticket)
    assert checkpointer.checkpoints == 0  # not due yet
    _record(journal, 4)
    deadline = time.monotonic() + 60  # a bounded wait for the thread, not a timing claim
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.checkpoints == 1
    assert path.stat().st_size > before  # the schema and rows are in the database file now
    journal.close()
    reopened = Journal(f"sqlite:///{path}")
    assert len(reopened.read_order_events()) == 5
    reopened.close()


def test_a_journal_only_read_starts_no_thread_and_memory_has_no_checkpointer(
    tmp_path: Path,
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    journal.read_order_events()
    assert journal.checkpointer is not None and journal.checkpointer._thread is None
    journal.close()
    assert Journal("sqlite://").checkpointer is None
