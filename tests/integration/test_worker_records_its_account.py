"""The worker records its account's facts (currency, leverage, margin mode) in the journal when
it starts, one row per account rewritten at each start, and never on a bar; on a SQLite file
and on PostgreSQL alike (``journal_url``). `tate status` values money in that currency."""

from __future__ import annotations

from sqlalchemy import event, select

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.journal_schema import accounts
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource

SYMBOLS = ("EURUSD",)


def start_worker(journal: Journal, *, currency: str, leverage: int) -> Worker:
    """A worker started on a simulated hedging account in ``currency``."""
    term = SimTerminal(
        make_replay_bars(SYMBOLS, n=40), account_mode="hedging", currency=currency,
        leverage=leverage, login=7_000_001, server="Tate-Euro",
    )  # fmt: skip
    term.initialize()
    clock = ReplayClock(term)
    return Worker(
        term, Mt5Broker(term, magic=9100, now=clock.now, sleep=clock.sleep), journal,
        FakeModelSource.with_roles("champion"), WorkerMetrics(), clock, SYMBOLS, "H1",
    )  # fmt: skip


def account_rows(journal: Journal) -> list[dict]:
    with journal.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(accounts)).mappings()]


def test_a_worker_journals_its_accounts_currency_at_start_and_not_on_its_bars(
    journal_url: str,
) -> None:
    journal = Journal(journal_url)
    try:
        worker = start_worker(journal, currency="EUR", leverage=30)
        (row,) = account_rows(journal)
        assert worker.account == "7000001@Tate-Euro" == row["account"]
        assert (row["currency"], row["leverage"], row["margin_mode"]) == (
            "EUR", 30, mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING,
        )  # fmt: skip
        written: list[str] = []
        event.listen(
            journal.engine, "before_cursor_execute",
            lambda *a: written.append(a[2]) if "accounts" in a[2].split("(")[0] else None,
        )  # fmt: skip
        assert worker.run() > 0 and worker.decided["champion"] > 0
        assert written == []  # the bars never touch the accounts table
        start_worker(journal, currency="EUR", leverage=50)  # the broker changed it
        (again,) = account_rows(journal)  # the start rewrote the account's one row
        assert (again["account"], again["currency"], again["leverage"]) == (
            row["account"], "EUR", 50,
        )  # fmt: skip
    finally:
        journal.close()
