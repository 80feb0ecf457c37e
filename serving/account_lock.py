"""One worker per trading account: an OS file lock held for the worker's whole life.

Two workers on one account each take the other's orders for their own: reconciliation would
rewrite the other's filled orders, and both would size against one balance. So the worker
takes an exclusive ``flock`` on ``<locks>/<login@server>.lock`` once it knows its account,
and keeps the file open until it stops. The kernel releases the lock when the process ends,
however it ends (``kill -9`` included), so a crash never leaves a stale lock to clean up by
hand. The file's content says who holds it (pid, start time, command), so a second worker
can refuse naming the holder; the content is information, never the lock itself.

When the journal is on PostgreSQL, workers on several hosts may share it, and a file lock only
sees this host: the lock is then a session-level advisory lock in that database
(``AdvisoryAccountLock``, ``pg_try_advisory_lock`` on a stable 64-bit key of ``login@server``),
held on a connection of its own for the worker's life. The server releases it when that
session ends, however the worker ends (``kill -9`` closes its socket). The holder is named
through the session's ``application_name`` (pid and start time, read from
``pg_stat_activity``), as the lock file names it. Losing the connection (a server restart, a
terminated backend, a network cut) loses the lock: ``held`` asks the server, and the running
worker asks it between bars (``serving.lock_watch``). A lost lock is taken again once
(``retake``, a new session, the same key); when another worker has it by then, or the server
does not answer, ``AccountLockLostError`` says so and the worker stops before its next bar.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


class AccountLockedError(RuntimeError):
    """Another worker holds the lock of the trading account this worker would trade.

    The message names the holder's pid and start time (``holder``, when it wrote them).
    Operator action: stop that worker (`tate down`, or the pid) or trade another account;
    a crashed holder's lock is released by the kernel, so there is nothing to delete.
    """

    def __init__(self, account: str, path: Path | str, holder: Holder | None) -> None:
        self.account, self.path, self.holder = account, path, holder
        super().__init__(
            f"account {account} is already traded by another worker ({who(holder)}); lock {path}"
        )


def who(holder: Holder | None) -> str:
    """The holder as a message names it."""
    if holder is None:
        return "a process that has not written its pid yet"
    return f"pid {holder.pid}, started {holder.started_at}"


class AccountLockLostError(RuntimeError):
    """The running worker lost its account's lock and could not take it back: another worker
    holds it now (named), or its server did not answer. The worker stopped before its next bar,
    so two workers never both trade the account past that point.

    Operator action: find the other worker the message names and decide which one trades the
    account (`tate down`, or stop that pid); for an unreachable server, bring PostgreSQL back,
    then start the worker again (reconciliation picks up its open orders).
    """


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

    def __init__(self, account: str, path: Path, fd: int, started: datetime) -> None:
        self.account, self.path, self._fd, self.started = account, path, fd, started

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
        return cls(account, path, fd, now)

    @property
    def held(self) -> bool:
        """True until released: the kernel never takes a held ``flock`` away (no I/O)."""
        return self._fd >= 0

    def retake(self) -> None:
        """Take the lock again after it was released, with the same start time.

        Raises:
            AccountLockLostError: another process holds it now (named).
        """
        self.release()
        with _lost(self.account):
            fresh = AccountLock.acquire(self.path.parent, self.account, now=self.started)
        self._fd, fresh._fd = fresh._fd, -1

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


class HeldLock(Protocol):
    """What the worker keeps of its account's lock, whichever kind it is."""

    account: str

    @property
    def held(self) -> bool: ...

    def retake(self) -> None: ...

    def release(self) -> None: ...


@contextmanager
def _lost(account: str) -> Iterator[None]:
    """Turn a failed retake into `AccountLockLostError`: one line naming the account and the
    holder, or why the lock's server did not answer."""
    import psycopg

    try:
        yield
    except AccountLockedError as taken:
        raise AccountLockLostError(
            f"account {account}: lost its lock while running, and another worker holds it now "
            f"({who(taken.holder)}; lock {taken.path}); this worker stopped before its next bar"
        ) from None
    except (OSError, psycopg.Error) as error:
        why = " ".join(str(error).split()) or type(error).__name__
        raise AccountLockLostError(
            f"account {account}: lost its lock while running and could not take it back "
            f"({type(error).__name__}: {why}); this worker stopped before its next bar"
        ) from error


ADVISORY_NAMESPACE = b"tate.account:"
"""Prefixed to the account before hashing: another application's advisory keys in the same
database are unlikely to collide with ours by accident."""

SESSION_OPTIONS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms
}
"""libpq options of the lock's session (the URL's own win): a network cut makes ``held`` fail
within seconds instead of waiting for TCP to give up (minutes), so the worker asking between
bars is not blocked for longer than that."""

_APPLICATION = re.compile(r"^tate worker pid=(\d+) started=(\S+)$")


def advisory_key(account: str) -> int:
    """The account's advisory-lock key: a signed 64-bit integer from its SHA-256, the same in
    every process, on every host and Python version (``hash()`` is salted per process)."""
    digest = hashlib.sha256(ADVISORY_NAMESPACE + account.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def application_name(pid: int, now: datetime) -> str:
    """What the lock's session calls itself (PostgreSQL keeps 63 bytes: this is ~50)."""
    return f"tate worker pid={pid} started={now.isoformat(timespec='seconds')}"


def holder_of(application: str | None) -> Holder | None:
    """The holder a lock session's ``application_name`` names, or None when it is not ours."""
    found = _APPLICATION.match(application or "")
    return None if found is None else Holder(int(found[1]), found[2], "")


_HOLDER_SQL = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %(high)s::bigint::oid AND l.objid = %(low)s::bigint::oid AND l.objsubid = 1
LIMIT 1
"""


class AdvisoryAccountLock:
    """The account's advisory lock, held by its own PostgreSQL session (autocommit: no
    transaction stays open on it)."""

    def __init__(
        self, account: str, where: str, connection: Any, key: int, url: str, started: datetime
    ) -> None:
        self.account, self.path, self.key = account, where, key
        self._connection: Any = connection
        self._url, self.started = url, started

    @classmethod
    def acquire(cls, url: str, account: str, *, now: datetime) -> AdvisoryAccountLock:
        """Take the account's advisory lock without waiting, on a new connection to ``url``
        (a ``postgresql+psycopg://`` SQLAlchemy URL, the journal's).

        Raises:
            AccountLockedError: another session holds it (another worker, anywhere).
        """
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        where = f"advisory {advisory_key(account)} on {parsed.render_as_string()}"
        params = parsed.translate_connect_args(username="user", database="dbname")
        params = {k: v for k, v in params.items() if v is not None}
        params.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
        connection = psycopg.connect(
            **{**SESSION_OPTIONS, **params},
            autocommit=True,
            application_name=application_name(os.getpid(), now),
        )
        key = advisory_key(account)
        try:
            found = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (found and found[0]):
                high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
                row = connection.execute(_HOLDER_SQL, {"high": high, "low": low}).fetchone()
                raise AccountLockedError(account, where, holder_of(row[0] if row else None))
        except BaseException:
            connection.close()
            raise
        return cls(account, where, connection, key, url, now)

    @property
    def held(self) -> bool:
        """Whether this session still holds the lock (asks the server: a lost connection
        has lost the lock)."""
        if self._connection is None or self._connection.closed:
            return False
        try:
            (count,) = self._connection.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND locktype = 'advisory' AND granted"
            ).fetchone()
        except Exception:
            return False
        return bool(count)

    def retake(self) -> None:
        """Take the lock again on a new session (the same key and start time), after ``held``
        said it was lost. The old session is closed first: were it alive after all, its lock
        would refuse the new one.

        Raises:
            AccountLockLostError: another session holds it now (named), or the server did not
                answer.
        """
        self.release()
        with _lost(self.account):
            fresh = AdvisoryAccountLock.acquire(self._url, self.account, now=self.started)
        self._connection, fresh._connection = fresh._connection, None

    def release(self) -> None:
        """Give the lock back and close the session; idempotent, quiet on a lost connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception:  # the session is gone, and the lock with it
            pass
        finally:
            connection.close()

    def __enter__(self) -> AdvisoryAccountLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
