"""A worker whose advisory-lock session dies while it runs (a terminated backend here; a server
restart or a network cut alike) finds out between bars: when a second worker has taken the
account meanwhile, it stops before its next bar without another decision or order, naming the
holder; when nobody took it, it takes it back and trades on."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from data_contracts.store import BarStore
from flows import serve, terminals
from flows.errors import SAID_NO, exit_code, report
from flows.settings import TateSettings
from serving.account_lock import (
    AccountLockedError,
    AccountLockLostError,
    AdvisoryAccountLock,
    advisory_key,
)
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.lock_watch import LockWatch
from serving.metrics import WorkerMetrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars, write_small_market
from tests.fakes import FakeModelSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SYMBOLS = ("EURUSD", "USDJPY")
BARS = 60
LOST_AT = 20  # the bar after which the lock's session is terminated
STARTED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
SIM_LOGIN = 4242
ACCOUNT_OF_SIM = f"{SIM_LOGIN}@Tate-SimReplay"

# A second worker: a session named as a worker names its own, waiting for the account's key.
WAITER = """
import os
import sys
from datetime import UTC, datetime
import psycopg
from serving.account_lock import advisory_key, application_name
name = application_name(os.getpid(), datetime.now(UTC))
conn = psycopg.connect(sys.argv[1], autocommit=True, application_name=name)
print("waiting", flush=True)
conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(sys.argv[2]),))
print("held", flush=True)
sys.stdin.read()
"""


class FakeClock:
    """Monotonic seconds: one second a bar, so the watch asks after every bar."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        self.seconds += 1.0
        return self.seconds


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def lock_sessions(admin: psycopg.Connection, account: str, *, granted: bool) -> list[int]:
    """Backend pids holding (``granted``) or waiting for the account's advisory key."""
    key = advisory_key(account)
    rows = admin.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted = %s "
        "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
        (granted, (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchall()
    return [pid for (pid,) in rows]


def until(check: object, what: str) -> None:
    """Wait (bounded) until ``check()`` is true."""
    deadline = time.monotonic() + 30
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def terminate_lock_session(admin: psycopg.Connection, account: str) -> None:
    """Kill the backend holding the account's key, as a server restart or a DBA would."""
    [holder] = lock_sessions(admin, account, granted=True)
    admin.execute("SELECT pg_terminate_backend(%s)", (holder,))
    until(lambda: holder not in lock_sessions(admin, account, granted=True), "the session end")


def replay_worker(url: str) -> tuple[SimTerminal, Journal, Worker]:
    term = SimTerminal(make_replay_bars(SYMBOLS, n=BARS), account_mode="hedging")
    term.initialize()
    journal = Journal(url)
    worker = Worker(
        term, Mt5Broker(term, magic=9100), journal, FakeModelSource.with_roles("champion"),
        WorkerMetrics(), ReplayClock(term), SYMBOLS, "H1", max_volume=1.0,
    )  # fmt: skip
    return term, journal, worker


def orders_sent(term: SimTerminal, journal: Journal) -> tuple[int, int]:
    """What the terminal received and what the journal says was sent, for comparing."""
    return len(term.history_orders_get(0, 2**40) or ()), len(journal.read_order_events())


@pytest.fixture
def admin(postgres_url: str) -> psycopg.Connection:
    with psycopg.connect(libpq_url(postgres_url), autocommit=True, connect_timeout=10) as conn:
        yield conn


def test_a_worker_whose_lock_another_worker_took_stops_before_its_next_bar(
    postgres_url: str, admin: psycopg.Connection
) -> None:
    term, journal, worker = replay_worker(postgres_url)
    lock = AdvisoryAccountLock.acquire(postgres_url, worker.account, now=STARTED)
    watch = LockWatch(lock, worker.stop, monotonic=FakeClock())
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, libpq_url(postgres_url), worker.account],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen: dict[str, object] = {}

    def on_bar() -> None:
        seen["bars"] = int(seen.get("bars", 0)) + 1  # type: ignore[call-overload]
        if seen["bars"] == LOST_AT:
            assert waiter.stdout is not None and waiter.stdout.readline().strip() == "waiting"
            until(lambda: lock_sessions(admin, worker.account, granted=False), "the waiter")
            terminate_lock_session(admin, worker.account)  # the waiter gets the key at once
            assert waiter.stdout.readline().strip() == "held"
            seen["sent"] = orders_sent(term, journal)
            seen["decided"] = len(journal.read_decisions())
        watch()

    try:
        processed = worker.run(on_bar=on_bar)
    finally:
        waiter.kill()
        waiter.wait(timeout=30)
        lock.release()
    assert processed == LOST_AT, "stopped before its next bar"
    assert seen["sent"] == orders_sent(term, journal) and seen["sent"] != (0, 0)
    assert len(journal.read_decisions()) == seen["decided"], "no decision after the loss"
    assert watch.lost is not None and exit_code(watch.lost) == SAID_NO
    assert worker.account in str(watch.lost) and f"pid {waiter.pid}, started 20" in str(watch.lost)


def test_a_worker_whose_lost_lock_nobody_took_takes_it_back_and_trades_on(
    postgres_url: str, admin: psycopg.Connection
) -> None:
    term, journal, worker = replay_worker(postgres_url)
    lock = AdvisoryAccountLock.acquire(postgres_url, worker.account, now=STARTED)
    watch = LockWatch(lock, worker.stop, monotonic=FakeClock())
    seen: dict[str, int] = {"bars": 0}

    def on_bar() -> None:
        seen["bars"] += 1
        if seen["bars"] == LOST_AT:
            terminate_lock_session(admin, worker.account)
            seen["decided"] = len(journal.read_decisions())
            seen["orders"] = orders_sent(term, journal)[0]
        watch()

    with lock:
        processed = worker.run(on_bar=on_bar)
        assert lock.held
        with pytest.raises(AccountLockedError, match=re.escape(f"started {STARTED.isoformat()}")):
            AdvisoryAccountLock.acquire(postgres_url, worker.account, now=datetime.now(UTC))
    assert processed == BARS and watch.lost is None
    assert len(journal.read_decisions()) > seen["decided"], "it decided on after the retake"
    assert orders_sent(term, journal)[0] > seen["orders"], "and sent orders"


@pytest.fixture
def settings_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> TateSettings:
    home = tmp_path / "home"
    write_small_market(home)
    monkeypatch.setenv("TATE_HOME", str(home))
    monkeypatch.setenv("TATE_JOURNAL_URL", postgres_url)
    monkeypatch.setattr(terminals, "new_sim_login", lambda: SIM_LOGIN)  # a known account
    return TateSettings()


def replay_start(settings: TateSettings) -> datetime:
    bars = BarStore(settings.data_dir).read_bars("EURUSD", "H1")
    return bars["time"].iloc[len(bars) // 2].to_pydatetime()


def test_tate_serve_exits_1_naming_the_worker_that_took_its_account(
    settings_on_postgres: TateSettings,
    postgres_url: str,
    admin: psycopg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The wiring of `tate serve`: a paced replay whose lock another worker takes mid-run ends
    with exit 1 and the one line naming the account and the holder, no traceback."""
    taken: list[subprocess.Popen[str]] = []

    def take_the_account() -> None:  # what a second worker does once the session is lost
        until(lambda: lock_sessions(admin, ACCOUNT_OF_SIM, granted=True), "the worker's lock")
        waiter = subprocess.Popen(
            [sys.executable, "-c", WAITER, libpq_url(postgres_url), ACCOUNT_OF_SIM],
            cwd=Path(__file__).resolve().parents[2],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        taken.append(waiter)
        assert waiter.stdout is not None and waiter.stdout.readline().strip() == "waiting"
        until(lambda: lock_sessions(admin, ACCOUNT_OF_SIM, granted=False), "the waiter")
        terminate_lock_session(admin, ACCOUNT_OF_SIM)
        assert waiter.stdout.readline().strip() == "held"

    second = threading.Thread(target=take_the_account, daemon=True)
    second.start()
    try:
        with pytest.raises(AccountLockLostError) as lost:
            serve.run_worker(
                settings_on_postgres,
                metrics_port=0,
                pace_seconds=0.1,
                start=replay_start(settings_on_postgres),
            )
        second.join(timeout=30)
    finally:
        for waiter in taken:
            waiter.kill()
            waiter.wait(timeout=30)
    assert taken and f"pid {taken[0].pid}, started 20" in str(lost.value)
    assert report(lost.value) == SAID_NO
    said = capsys.readouterr().err
    assert said.splitlines()[-1] == f"tate: {lost.value}" and "Traceback" not in said
