"""Is the journal file the one that was there, whole? Checked before a worker opens it.

The journal is evidence (decisions, orders, the breakers' history), so a journal that was
lost must never be silently replaced by a new empty one (SQLite happily opens a 0-byte or a
missing file as a new database). Three checks, on the SQLite file only, read-only, before
``Journal`` migrates anything:

- a marker file under ``TATE_HOME`` (``journal.marker``, JSON) records every journal file tate
  created or adopted, with when; a journal the marker knows must still exist and hold tables;
- the file is a database: ``PRAGMA quick_check`` says ``ok`` (a 0-byte file is refused even
  without a marker: tate never leaves one, so it is a truncation);
- its schema revision (``alembic_version``) is one this tate knows (the head, or an older one
  it migrates from); no ``alembic_version`` with tables is a journal from before Alembic,
  which the baseline migration adopts.

A refusal is ``JournalRefusedError`` (exit 2, naming the file). Starting afresh is explicit
(``tate serve --new-journal --by WHO``): the old file and its ``-wal``/``-shm`` are moved
aside (``move_aside``; never deleted) and the marker records who replaced what, when.

A journal on PostgreSQL is a database, not a file, and the same evidence rule holds
(``check_journal_database``): the marker records it by its URL (password masked); a database
the marker knows that cannot be reached, or holds none of the journal's tables (dropped,
restored empty, or the URL now names another database), is refused rather than given a new
schema; a schema revision this tate does not know is refused. Damage inside a server's pages
is the server's to detect (checksums, its own recovery): there is no ``quick_check`` to run.
``--new-journal`` cannot move a database aside: it adopts whatever database the URL names
(an operator creates a new one, or empties the old one knowingly) and the marker records who.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

MARKER_NAME = "journal.marker"
COMPANIONS = ("-wal", "-shm")


class JournalRefusedError(Exception):
    """The journal is missing, empty, corrupt or of an unknown schema where one existed.

    Nothing was changed: the file is left exactly as found. Operator action: restore the
    journal from ``TATE_HOME/backups`` (``tate backup`` writes them), or start a new one
    knowingly with ``tate serve --new-journal --by WHO`` (the old file is moved aside, not
    deleted, and the replacement is recorded in ``TATE_HOME/journal.marker``).
    """


def sqlite_file(url: str) -> Path | None:
    """The journal's file for a SQLite URL; None for an in-memory or a server database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def server_journal(url: str) -> str | None:
    """The marker's key for a journal in a server database (its URL, password masked); None
    for SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return None
    return parsed.render_as_string(hide_password=True)


def refuse_empty_file(url: str) -> None:
    """Refuse a 0-byte journal file (SQLite would open it as a new database): what every
    opener of a journal checks, not only the worker, so no command recreates a truncated one.

    Raises:
        JournalRefusedError: naming the file.
    """
    path = sqlite_file(url)
    if path is not None and path.is_file() and path.stat().st_size == 0:
        raise JournalRefusedError(
            f"journal {path} is empty (0 bytes): truncated? restore it from a backup, "
            "or start afresh with tate serve --new-journal --by WHO"
        )


def refusal_of(url: str, error: Exception) -> Exception:
    """What opening a journal raises when SQLite found the file damaged ("not a database",
    "malformed"): refused naming it (one line, exit 2). Any other error (a failed migration,
    a server's) stays as it was."""
    path, cause = sqlite_file(url), getattr(error, "orig", None)
    if path is None or type(cause) is not sqlite3.DatabaseError:  # not a damaged file
        return error
    return JournalRefusedError(f"journal {path} cannot be read as a database: {cause}")


def read_marker(marker: Path) -> dict[str, Any]:
    """The marker's content (``{"journals": {path: record}}``); empty when there is none."""
    if not marker.exists():
        return {"journals": {}}
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise JournalRefusedError(
            f"journal marker {marker} cannot be read ({error}); restore it or remove it knowingly"
        ) from None
    if not isinstance(content, dict) or not isinstance(content.get("journals"), dict):
        raise JournalRefusedError(f"journal marker {marker} is not a tate journal marker")
    return content


def record_journal(
    marker: Path, path: Path | str, *, at: datetime, by: str = "", replaced: Path | None = None
) -> None:
    """Note in the marker that ``path`` is a journal (atomically: a crash keeps the old one).

    A journal already known keeps its creation time; a replacement records ``by`` and where
    the old file went.
    """
    content = read_marker(marker)
    journals: dict[str, Any] = content["journals"]
    record = journals.get(str(path))
    if record is None or replaced is not None or (by and record.get("new_journal_by") != by):
        record = {"created": at.isoformat()}
        if replaced is None and by:  # a server database adopted knowingly: nothing moved
            record.update(new_journal_by=by)
            content.setdefault("replacements", []).append(
                {"path": str(path), "at": at.isoformat(), "by": by, "moved_to": None}
            )
        if replaced is not None:
            record.update(new_journal_by=by, replaced=str(replaced))
            content.setdefault("replacements", []).append(
                {"path": str(path), "at": at.isoformat(), "by": by, "moved_to": str(replaced)}
            )
        journals[str(path)] = record
    elif not record.get("created"):
        record["created"] = at.isoformat()
    else:
        return
    temporary = marker.with_name(f".{marker.name}.tmp")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, marker)


def check_journal_file(path: Path, *, existed: bool, known_revisions: Collection[str]) -> None:
    """Refuse a journal that is missing (where one ``existed``), empty, corrupt, or of an
    unknown schema revision; a missing file where none existed is a first start (fine).

    Opens the file read-only: a refused file is left byte for byte as found.

    Raises:
        JournalRefusedError: naming the file and what is wrong with it.
    """
    if not path.exists():
        if existed:
            raise JournalRefusedError(
                f"journal {path} is missing, but {MARKER_NAME} says one was created there; "
                "restore it from a backup, or start afresh with --new-journal --by WHO"
            )
        return
    if not path.is_file():
        raise JournalRefusedError(f"journal {path} is not a file")
    refuse_empty_file(f"sqlite:///{path}")
    tables, revision = inspect_sqlite(path)
    if not tables and existed:
        raise JournalRefusedError(f"journal {path} holds no tables, but a journal existed there")
    if revision is not None and revision not in known_revisions:
        raise JournalRefusedError(
            f"journal {path} has schema revision {revision!r}, unknown to this tate "
            f"(it knows {', '.join(sorted(known_revisions))}): written by a newer tate?"
        )


def inspect_sqlite(path: Path) -> tuple[set[str], str | None]:
    """The file's tables and Alembic revision, after ``PRAGMA quick_check`` said ``ok``.

    Raises:
        JournalRefusedError: SQLite cannot read the file, or quick_check found damage.
    """
    # without a WAL to read, open it immutable: a read-only open of a WAL-mode file would
    # otherwise leave new -wal/-shm files beside it
    wal = path.with_name(path.name + "-wal").exists()
    options = "mode=ro" if wal else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?{options}", uri=True)
    except sqlite3.Error as error:
        raise JournalRefusedError(f"journal {path} cannot be opened: {error}") from None
    try:
        verdict = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
        if verdict != ["ok"]:
            raise JournalRefusedError(f"journal {path} is corrupt: quick_check says {verdict[0]}")
        tables = {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = None if row is None else str(row[0])
    except sqlite3.Error as error:
        raise JournalRefusedError(f"journal {path} is corrupt: {error}") from None
    finally:
        conn.close()
    return tables, revision


def move_aside(path: Path, *, at: datetime) -> Path | None:
    """Rename the journal (and its ``-wal``/``-shm``) to ``<name>.replaced-<UTC stamp>``;
    never deletes. Returns where it went, or None when there was no file."""
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.replaced-{at.strftime('%Y%m%dT%H%M%S%fZ')}")
    if target.exists():
        raise JournalRefusedError(f"cannot move {path} aside: {target} already exists")
    for suffix in COMPANIONS:  # the WAL first: the main file then no longer has stray pages
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    os.replace(path, target)
    return target


def known_revisions() -> set[str]:
    """Every revision of the journal's migrations (the head and those it migrates from)."""
    from serving.journal_migrations import scripts

    return {script.revision for script in scripts().walk_revisions()}


def check_journal_database(url: str, *, existed: bool, known_revisions: Collection[str]) -> None:
    """Refuse a server journal that cannot be reached or holds no journal tables where one
    ``existed``, or has an unknown schema revision; reads only (nothing is created).

    Raises:
        JournalRefusedError: naming the database (password masked) and what is wrong.
    """
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    label = server_journal(url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            revision = None
            if "alembic_version" in tables:
                found = conn.execute(text("SELECT version_num FROM alembic_version")).first()
                revision = None if found is None else str(found[0])
    except DBAPIError as error:
        why = str(getattr(error, "orig", error)).strip().splitlines()[0]
        where = "a journal existed there" if existed else "no journal was there before"
        raise JournalRefusedError(f"journal {label} cannot be opened ({why}); {where}") from None
    finally:
        engine.dispose()
    if existed and not (tables & JOURNAL_TABLES):
        raise JournalRefusedError(
            f"journal {label} holds no journal tables, but {MARKER_NAME} says one was created "
            "there; restore it, or start afresh with --new-journal --by WHO"
        )
    if revision is not None and revision not in known_revisions:
        raise JournalRefusedError(
            f"journal {label} has schema revision {revision!r}, unknown to this tate "
            f"(it knows {', '.join(sorted(known_revisions))}): written by a newer tate?"
        )


JOURNAL_TABLES = frozenset(
    {"alembic_version", "decisions", "order_events", "breaker_events", "intents", "intent_orders"}
)


def admit_journal(url: str, home: Path) -> None:
    """Before a worker opens the journal: refuse it if it is not the whole journal it was.

    Raises:
        JournalRefusedError: the file (or database) is missing, empty, corrupt or of an
            unknown revision.
    """
    path = sqlite_file(url)
    server = server_journal(url)
    if server is not None:
        existed = server in read_marker(home / MARKER_NAME)["journals"]
        check_journal_database(url, existed=existed, known_revisions=known_revisions())
        return
    if path is None:
        return
    existed = str(path) in read_marker(home / MARKER_NAME)["journals"]
    check_journal_file(path, existed=existed, known_revisions=known_revisions())


def replace_journal(url: str, home: Path, *, at: datetime) -> Path | None:
    """Start afresh knowingly: move the journal file aside (never delete it); returns where
    it went (None: there was no file, or the journal is a server database)."""
    path = sqlite_file(url)
    if path is None:
        return None
    read_marker(home / MARKER_NAME)  # a marker we could not update afterwards: refused first
    return move_aside(path, at=at)


def note_journal(
    url: str, home: Path, *, at: datetime, by: str = "", replaced: Path | None = None
) -> None:
    """After the journal opened: the marker knows it (a replacement: by whom, old file where;
    a server database by its URL, password masked)."""
    path: Path | str | None = sqlite_file(url) or server_journal(url)
    if path is not None:
        record_journal(home / MARKER_NAME, path, at=at, by=by, replaced=replaced)
