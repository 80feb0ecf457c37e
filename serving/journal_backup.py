"""Back-ups of the SQLite journal with SQLite's online backup API, verified.

``sqlite3.Connection.backup`` copies the pages inside one read transaction (all pages in one
step): in WAL mode the worker keeps writing meanwhile and the copy is the journal as of one
commit — never a torn file, as a ``cp`` of a live database (and its WAL) can be. The copy is
written under a ``.partial`` name, checked (``PRAGMA quick_check`` and the tables a journal
holds) and only then renamed to ``TATE_HOME/backups/journal-<UTC stamp>.sqlite``, so a file
with the final name is always a verified backup. Nothing here deletes old back-ups.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

from serving.journal_integrity import MARKER_NAME, JournalRefusedError, read_marker, sqlite_file

BACKUPS_FOLDER = "backups"
JOURNAL_TABLES = frozenset({"decisions", "order_events", "breaker_events", "alembic_version"})


class BackupFailedError(Exception):
    """The journal's back-up copy did not verify (quick_check or its tables); it was removed.

    The journal itself is untouched. Operator action: run ``tate backup`` again; if it fails
    again, the journal itself may be damaged: stop the worker and check it (``tate serve``
    refuses a corrupt journal at start and says why).
    """


def backups_dir(home: Path) -> Path:
    return home / BACKUPS_FOLDER


def backup_journal(url: str, home: Path, *, at: datetime) -> Path | None:
    """Copy the journal into ``TATE_HOME/backups`` and verify the copy; returns its path.

    None when there is nothing to copy: a server database (back it up with its own tools)
    or no journal yet on this home.

    Raises:
        JournalRefusedError: the journal is missing, or empty, where the marker says one existed.
        BackupFailedError: the copy did not verify.
    """
    path = sqlite_file(url)
    if path is None:
        return None
    if not path.exists() or path.stat().st_size == 0:
        if str(path) in read_marker(home / MARKER_NAME)["journals"] or path.exists():
            raise JournalRefusedError(
                f"journal {path} is missing or empty, but {MARKER_NAME} says one was created "
                "there: nothing to back up"
            )
        return None
    folder = backups_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"journal-{at.strftime('%Y%m%dT%H%M%SZ')}.sqlite"
    if target.exists():
        target = folder / f"journal-{at.strftime('%Y%m%dT%H%M%S%fZ')}.sqlite"
    partial = target.with_name(target.name + ".partial")
    copy_database(path, partial)
    try:
        verify_copy(partial)
    except BackupFailedError:
        partial.unlink()
        raise
    os.replace(partial, target)
    return target


def copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup of ``source`` into a new file ``target`` (one read transaction)."""
    src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: every page in one step, one consistent snapshot
        # a copy is read by itself, not beside a worker: no WAL companions needed
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def verify_copy(path: Path) -> None:
    """The copy opens, ``quick_check`` says ok, and it holds a journal's tables.

    Raises:
        BackupFailedError: naming the copy and what is wrong.
    """
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            verdict = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
            names = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {str(row[0]) for row in names}
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise BackupFailedError(f"back-up {path} does not open: {error}") from None
    if verdict != ["ok"]:
        raise BackupFailedError(f"back-up {path} failed quick_check: {verdict[0]}")
    if missing := JOURNAL_TABLES - tables:
        raise BackupFailedError(f"back-up {path} lacks tables {', '.join(sorted(missing))}")
