"""Reconciliation looks only at its own account's rows and never rewrites an outcome once final:
two accounts share one journal, and a stale read of a filled order cannot turn it absent; on
a SQLite file and on PostgreSQL alike (``journal_url``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text

from serving.execution.open_orders import Reconciler
from serving.execution.store import IntentJournal
from tests.unit.test_worker_startup import MAGIC, _term, _worker

FIRST, SECOND = 5_000_101, 5_000_102


def rows_of(url: str, account: str) -> list[tuple[Any, ...]]:
    """Every intent, order and order-event row of ``account``, as stored."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for table in ("intents", "intent_orders", "order_events")
                for row in conn.execute(
                    text(f"SELECT * FROM {table} WHERE account = :a ORDER BY 1"), {"a": account}
                )
            ]
    finally:
        engine.dispose()


def test_start_up_reconciliation_leaves_another_accounts_rows_alone(journal_url: str) -> None:
    url = journal_url
    second = _worker(_term(login=SECOND), url)
    second.run(max_bars=5)
    engine = create_engine(url)
    with engine.begin() as conn:  # the second account also has an order still open
        reopened = conn.execute(
            text(
                "UPDATE intent_orders SET state = 'sent' WHERE order_key = "
                "(SELECT min(order_key) FROM intent_orders WHERE account = :a)"
            ),
            {"a": second.account},
        ).rowcount
    engine.dispose()
    assert reopened == 1
    before = rows_of(url, second.account)
    first = _worker(_term(login=FIRST), url)  # its terminal has none of those orders
    report = first.executor.start_up({MAGIC})
    first.run(max_bars=3)
    assert report.agreed and not report.unresolved
    assert rows_of(url, second.account) == before, "not one of its rows changed"
    assert rows_of(url, first.account), "the first worker did journal its own"


def test_a_final_outcome_is_never_rewritten_by_a_stale_reconciliation(journal_url: str) -> None:
    url = journal_url
    worker = _worker(_term(login=FIRST), url)
    worker.run(max_bars=5)
    store = IntentJournal(worker.journal, worker.account)
    filled = [row for row in store.orders() if row.state == "filled"]
    assert filled
    before = rows_of(url, worker.account)
    # a reconciler that read the order while it was still sent, against a terminal that
    # shows nothing of it (it would prove it absent)
    stale = replace(filled[0], state="sent")
    blind = _term(login=FIRST)
    reconciler = Reconciler(worker.journal, store, blind, lambda: datetime.now(UTC))
    unresolved = reconciler.resolve([stale])
    assert unresolved == []
    assert rows_of(url, worker.account) == before, "the filled order stays filled"
    assert filled[0].order_key not in reconciler.open
