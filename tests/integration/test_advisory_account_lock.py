"""One worker per account with the journal on PostgreSQL: the lock is an advisory lock in that
database, so workers on other hosts sharing it are refused too; the second holder is refused
naming the first's pid and start time (the same error and exit code as the file lock), and a
holder that dies, however it dies, leaves nothing behind to clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.errors import BAD_INPUT, exit_code
from serving.account_lock import AccountLockedError, AdvisoryAccountLock, advisory_key

pytestmark = pytest.mark.integration

ACCOUNT = "5001234@Broker-Live 02"
STARTED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

# A process that takes the advisory lock, says so on stdout, and waits to be killed.
HOLDER = """
import sys
import time
from datetime import UTC, datetime
from serving.account_lock import AdvisoryAccountLock
lock = AdvisoryAccountLock.acquire(sys.argv[1], sys.argv[2], now=datetime.now(UTC))
print("held", flush=True)
sys.stdin.read()
"""


def hold_in_subprocess(url: str, account: str) -> subprocess.Popen[str]:
    """A process holding ``account``'s advisory lock in ``url`` until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, account],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_key_is_the_same_in_every_process_and_on_every_host() -> None:
    """A key salted per process (``hash()``) would let two workers hold "the same" lock."""
    assert advisory_key(ACCOUNT) == 6517995258450239551
    assert advisory_key("77@Tate-SimReplay") != advisory_key(ACCOUNT)


def test_a_second_lock_on_one_account_is_refused_naming_the_holder(postgres_url: str) -> None:
    first = AdvisoryAccountLock.acquire(postgres_url, ACCOUNT, now=STARTED)
    assert first.held
    with pytest.raises(AccountLockedError) as refused:
        AdvisoryAccountLock.acquire(postgres_url, ACCOUNT, now=datetime.now(UTC))
    assert f"pid {os.getpid()}, started 2026-11-30T03:00:00+00:00" in str(refused.value)
    assert ACCOUNT in str(refused.value) and str(advisory_key(ACCOUNT)) in str(refused.value)
    assert exit_code(refused.value) == BAD_INPUT
    with AdvisoryAccountLock.acquire(postgres_url, "77@Tate-SimReplay", now=STARTED) as other:
        assert other.held  # another account is not held up
    first.release()
    assert not first.held
    AdvisoryAccountLock.acquire(postgres_url, ACCOUNT, now=STARTED).release()  # free once released


def test_a_holder_in_another_process_is_named_and_its_kill_9_releases_the_lock(
    postgres_url: str,
) -> None:
    holder = hold_in_subprocess(postgres_url, ACCOUNT)
    try:
        with pytest.raises(AccountLockedError, match=f"pid {holder.pid}, started 20"):
            AdvisoryAccountLock.acquire(postgres_url, ACCOUNT, now=STARTED)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    # the server ends the dead process's session, and its lock with it (bounded wait: the
    # backend notices the closed socket on its own schedule, usually at once)
    deadline = datetime.now(UTC).timestamp() + 30
    while True:
        try:
            lock = AdvisoryAccountLock.acquire(postgres_url, ACCOUNT, now=STARTED)
            break
        except AccountLockedError:
            if datetime.now(UTC).timestamp() > deadline:
                raise
            time.sleep(0.1)
    with lock:
        assert lock.held


def test_the_lock_session_gives_up_on_a_cut_network_in_seconds(postgres_url: str) -> None:
    """Without a TCP user timeout and keepalives, ``held`` on a cut network would block the
    worker between bars until TCP gave up (minutes); the URL's own options still win."""
    lock = AdvisoryAccountLock.acquire(f"{postgres_url}?connect_timeout=3", ACCOUNT, now=STARTED)
    with lock:
        options = lock._connection.info.get_parameters()
    assert options["tcp_user_timeout"] == "10000" and options["keepalives_idle"] == "10"
    assert options["connect_timeout"] == "3"
