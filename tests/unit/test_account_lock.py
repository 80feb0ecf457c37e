"""One worker per account: the second holder is refused naming the first's pid and start time,
and a holder that dies, however it dies, leaves nothing behind to clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.errors import BAD_INPUT, exit_code
from serving.account_lock import AccountLock, AccountLockedError, lock_path, read_holder

ACCOUNT = "5001234@Broker-Live 02"
STARTED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

# A process that takes the lock, says so on stdout, and waits to be killed.
HOLDER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from serving.account_lock import AccountLock
lock = AccountLock.acquire(Path(sys.argv[1]), sys.argv[2], now=datetime.now(UTC))
print("held", flush=True)
sys.stdin.read()
"""


def hold_in_subprocess(locks: Path, account: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(locks), account],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_lock_on_one_account_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED)
    with pytest.raises(AccountLockedError) as refused:
        AccountLock.acquire(tmp_path, ACCOUNT, now=datetime.now(UTC))
    assert f"pid {os.getpid()}" in str(refused.value)
    assert "2026-11-30T03:00:00+00:00" in str(refused.value)
    assert ACCOUNT in str(refused.value)
    assert exit_code(refused.value) == BAD_INPUT
    first.release()
    AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED).release()  # free once released


def test_another_account_is_not_held_up(tmp_path: Path) -> None:
    with AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED):
        other = AccountLock.acquire(tmp_path, "77@Tate-SimReplay", now=STARTED)
        assert other.held
        other.release()


def test_a_holder_in_another_process_is_named_and_its_kill_9_releases_the_lock(
    tmp_path: Path,
) -> None:
    holder = hold_in_subprocess(tmp_path, ACCOUNT)
    try:
        with pytest.raises(AccountLockedError, match=f"pid {holder.pid}, started "):
            AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED)
        written = read_holder(lock_path(tmp_path, ACCOUNT))
        assert written is not None and written.pid == holder.pid
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    # the crashed holder's pid is still written in the file; the kernel dropped the lock
    assert read_holder(lock_path(tmp_path, ACCOUNT)) == written
    with AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED) as lock:
        assert read_holder(lock.path) == (os.getpid(), STARTED.isoformat(), " ".join(sys.argv))


def test_a_server_name_never_makes_a_path_of_its_own(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "42@../../etc/Broker Server")
    assert path.parent == tmp_path
    assert path.name == "42@.._.._etc_Broker_Server.lock"
