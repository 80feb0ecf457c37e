"""WAL checkpoints of a SQLite journal on a thread of their own, off the decision path.

In WAL mode a commit appends its pages to the WAL file; a *checkpoint* copies them back into
the database file and fsyncs both, the only fsyncs this journal's settings make. SQLite runs
it inside whichever commit crosses ``wal_autocheckpoint`` pages, so one bar in a few hundred
paid tens of milliseconds for it (the replay's slowest bars). ``Checkpointer`` runs the same
PASSIVE checkpoint on its own connection every ``every_commits`` commits of the writer;
SQLite lets a checkpoint and a writer run at once, and the driver releases the GIL while
either works. A checkpoint moves no commit's durability: a committed transaction is in the
WAL before and after it. The writer's own ``wal_autocheckpoint`` stays as the backstop for
a checkpointer that falls behind (or a journal opened without one).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

logger = logging.getLogger(__name__)

EVERY_COMMITS = 250
"""Writer commits between two background checkpoints (~5,000 WAL pages of a replay's bars,
under the writer's 10,000-page backstop)."""


class Checkpointer:
    """PASSIVE WAL checkpoints of ``engine``'s database on a daemon thread.

    Args:
        engine: the journal's SQLite engine (a file: an in-memory database has no WAL).
        every_commits: the writer's commits between two checkpoints.

    ``committed()`` is called by the writer after each commit (the thread starts on the
    first, so a journal only read never has one); ``close()`` stops it and closes its
    connection.
    """

    def __init__(self, engine: Engine, every_commits: int = EVERY_COMMITS) -> None:
        if every_commits < 1:
            raise ValueError(f"every_commits must be at least 1, not {every_commits}")
        self.engine, self.every_commits = engine, every_commits
        self.checkpoints = 0  # checkpoints run (tests read it)
        self._commits = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """One more writer commit; every ``every_commits``-th wakes the checkpoint thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="journal-checkpoints", daemon=True
            )
            self._thread.start()
        self._commits += 1
        if self._commits >= self.every_commits:
            self._commits = 0
            self._due.set()

    def close(self) -> None:
        if self._thread is None:
            return
        self._stopping = True
        self._due.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        connection: Any = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                if connection is None:
                    connection = self.engine.raw_connection()
                self._checkpoint(connection)
        except Exception:  # the writer's backstop carries on checkpointing
            logger.exception("background WAL checkpoints stopped")
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            cursor.close()
        self.checkpoints += 1
