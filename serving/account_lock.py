"""One worker per trading account: an OS file lock held for the worker's whole life.

Two workers on one account each take the other's orders for their own: reconciliation would
rewrite the other's filled orders, and both would size against one balance. So the worker
takes an exclusive ``flock`` on ``<locks>/<login@server>.lock`` once it knows its account,
and keeps the file open until it stops. The kernel releases the lock when the process ends,
however it ends (``kill -9`` included), so a crash never leaves a stale lock to clean up by
hand. The file's content says who holds it (pid, start time, command), so a second worker
can refuse naming the holder; the content is information, never the lock itself.

A journal on PostgreSQL shared by several hosts would need an advisory lock in the database
as well; a file lock only sees this host.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


class AccountLockedError(RuntimeError):
    """Another worker holds the lock of the trading account this worker would trade.

    The message names the holder's pid and start time (``holder``, when it wrote them).
    Operator action: stop that worker (`tate down`, or the pid) or trade another account;
    a crashed holder's lock is released by the kernel, so there is nothing to delete.
    """

    def __init__(self, account: str, path: Path, holder: Holder | None) -> None:
        self.account, self.path, self.holder = account, path, holder
        who = (
            f"pid {holder.pid}, started {holder.started_at}"
            if holder is not None
            else "a process that has not written its pid yet"
        )
        super().__init__(
            f"account {account} is already traded by another worker ({who}); lock {path}"
        )


class Holder(NamedTuple):
    """What the lock file says about the process holding it."""

    pid: int
    started_at: str
    command: str


def lock_path(locks_dir: Path, account: str) -> Path:
    """``<locks_dir>/<account>.lock`` with anything but ``[A-Za-z0-9._@-]`` replaced, so a
    server name never makes a path of its own."""
    return locks_dir / f"{_UNSAFE.sub('_', account) or '_'}.lock"


def read_holder(path: Path) -> Holder | None:
    """The holder written in a lock file, or None when it is empty or unreadable."""
    try:
        fields = json.loads(path.read_text())
        return Holder(int(fields["pid"]), str(fields["started_at"]), str(fields["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class AccountLock:
    """The held lock of one account; `release` (or the process ending) gives it back."""

    def __init__(self, account: str, path: Path, fd: int) -> None:
        self.account, self.path, self._fd = account, path, fd

    @classmethod
    def acquire(cls, locks_dir: Path, account: str, *, now: datetime) -> AccountLock:
        """Take the account's lock without waiting, and write this process into the file.

        Args:
            now: the start time written for a second worker to read (timezone-aware).

        Raises:
            AccountLockedError: another open file description holds it (another process, or
                another `AccountLock` in this one).
        """
        locks_dir.mkdir(parents=True, exist_ok=True)
        path = lock_path(locks_dir, account)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AccountLockedError(account, path, read_holder(path)) from None
        except BaseException:
            os.close(fd)
            raise
        holder = {
            "pid": os.getpid(),
            "started_at": now.isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "account": account,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        return cls(account, path, fd)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Empty the file (it no longer names a live holder) and drop the lock; idempotent."""
        if self._fd < 0:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AccountLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
