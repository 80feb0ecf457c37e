"""Between bars the worker checks it still holds its account's lock, at most once a second of
its clock: a lost lock that is free is taken back and the worker goes on; one another worker
holds now stops the worker, with one line naming the account and the holder, exit 1."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.errors import SAID_NO, exit_code
from serving.account_lock import AccountLock, AccountLockedError, AccountLockLostError
from serving.lock_watch import LockWatch
from tests.unit.test_account_lock import hold_in_subprocess

ACCOUNT = "5001234@Broker-Live 02"
STARTED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def __call__(self) -> float:
        return self.seconds


class CountingLock:
    """A lock that records each time it is asked whether it is held, and each retake."""

    account = ACCOUNT

    def __init__(self) -> None:
        self.asks = 0
        self.retakes = 0
        self.is_held = True

    @property
    def held(self) -> bool:
        self.asks += 1
        return self.is_held

    def retake(self) -> None:
        self.retakes += 1
        self.is_held = True

    def release(self) -> None:
        self.is_held = False


class Stops:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_the_lock_is_asked_at_most_once_a_second_of_the_clock() -> None:
    clock, lock = FakeClock(), CountingLock()
    watch = LockWatch(lock, Stops(), monotonic=clock)
    for _ in range(1000):  # a fast replay: a thousand bars in the same instant
        watch()
    assert lock.asks == 1, "the first bar asks, the rest of that second does not"
    clock.seconds += 0.999
    watch()
    assert lock.asks == 1
    clock.seconds += 0.001
    watch()
    watch()
    assert lock.asks == 2
    for _ in range(5):  # a live worker: a bar (or a poll) a second or more apart
        clock.seconds += 3600.0
        watch()
    assert lock.asks == 7 and lock.retakes == 0


def test_a_lost_lock_that_is_free_is_taken_back_and_the_worker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock, stops = FakeClock(), Stops()
    lock = AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED)
    watch = LockWatch(lock, stops, monotonic=clock)
    watch()
    lock.release()  # what a lost session does to an advisory lock
    with caplog.at_level(logging.WARNING, logger="serving.lock_watch"):
        watch()  # within the same second: not asked yet
        assert not lock.held
        clock.seconds += 1.0
        watch()
    assert lock.held and stops.count == 0 and watch.lost is None
    [warning] = [r for r in caplog.records if r.name == "serving.lock_watch"]
    assert warning.levelno == logging.WARNING and ACCOUNT in warning.getMessage()
    with pytest.raises(AccountLockedError):  # it really holds it again
        AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED)
    lock.release()


def test_a_lost_lock_another_worker_holds_stops_the_worker_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock, stops = FakeClock(), Stops()
    lock = AccountLock.acquire(tmp_path, ACCOUNT, now=STARTED)
    watch = LockWatch(lock, stops, monotonic=clock)
    lock.release()
    holder = hold_in_subprocess(tmp_path, ACCOUNT)  # a second worker takes the account
    try:
        with caplog.at_level(logging.WARNING, logger="serving.lock_watch"):
            watch()
            clock.seconds += 10.0
            watch()  # asked once more would not stop it twice
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert stops.count == 1 and not lock.held
    assert isinstance(watch.lost, AccountLockLostError)
    said = str(watch.lost)
    assert ACCOUNT in said and f"pid {holder.pid}, started 20" in said
    assert exit_code(watch.lost) == SAID_NO
    [error] = [r for r in caplog.records if r.name == "serving.lock_watch"]
    assert error.levelno == logging.ERROR and error.getMessage() == said
