"""Reconciliation looks only at its own account's rows and never rewrites an outcome once final:
two accounts share one journal, and a stale read of a filled order cannot turn it absent."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.execution.open_orders import Reconciler
from serving.execution.store import IntentJournal
from tests.unit.test_worker_startup import MAGIC, _term, _worker

FIRST, SECOND = 5_000_101, 5_000_102


def rows_of(path: Path, account: str) -> list[tuple[Any, ...]]:
    """Every intent, order and order-event row of ``account``, as stored."""
    with sqlite3.connect(path) as conn:
        found = [
            *conn.execute("SELECT * FROM intents WHERE account = ? ORDER BY 1", (account,)),
            *conn.execute("SELECT * FROM intent_orders WHERE account = ? ORDER BY 1", (account,)),
            *conn.execute("SELECT * FROM order_events WHERE account = ? ORDER BY 1", (account,)),
        ]
    conn.close()
    return found


def test_start_up_reconciliation_leaves_another_accounts_rows_alone(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    url = f"sqlite:///{path}"
    second = _worker(_term(login=SECOND), url)
    second.run(max_bars=5)
    with sqlite3.connect(path) as conn:  # the second account also has an order still open
        reopened = conn.execute(
            "UPDATE intent_orders SET state = 'sent' WHERE order_key = "
            "(SELECT min(order_key) FROM intent_orders WHERE account = ?)",
            (second.account,),
        ).rowcount
    conn.close()
    assert reopened == 1
    before = rows_of(path, second.account)
    first = _worker(_term(login=FIRST), url)  # its terminal has none of those orders
    report = first.executor.start_up({MAGIC})
    first.run(max_bars=3)
    assert report.agreed and not report.unresolved
    assert rows_of(path, second.account) == before, "not one of its rows changed"
    assert rows_of(path, first.account), "the first worker did journal its own"


def test_a_final_outcome_is_never_rewritten_by_a_stale_reconciliation(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    url = f"sqlite:///{path}"
    worker = _worker(_term(login=FIRST), url)
    worker.run(max_bars=5)
    store = IntentJournal(worker.journal, worker.account)
    filled = [row for row in store.orders() if row.state == "filled"]
    assert filled
    before = rows_of(path, worker.account)
    # a reconciler that read the order while it was still sent, against a terminal that
    # shows nothing of it (it would prove it absent)
    stale = replace(filled[0], state="sent")
    blind = _term(login=FIRST)
    reconciler = Reconciler(worker.journal, store, blind, lambda: datetime.now(UTC))
    unresolved = reconciler.resolve([stale])
    assert unresolved == []
    assert rows_of(path, worker.account) == before, "the filled order stays filled"
    assert filled[0].order_key not in reconciler.open
