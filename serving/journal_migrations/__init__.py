"""The journal's schema history, migrated by Alembic whenever a ``Journal`` opens.

``upgrade_journal`` brings any journal to the newest revision, with no ``alembic.ini`` and
from any working folder (the scripts ship inside this package):

- a new database gets the tables ``serving`` defines (``metadata.create_all``) and is stamped
  at the newest revision — Alembic's recipe for a database built from scratch; a test checks
  that the revisions, run from the baseline, build exactly that schema;
- a journal written before Alembic (``metadata.create_all``, no ``alembic_version`` table) is
  unversioned: the baseline revision adopts its tables as they are — every row kept — and
  creates the ones it lacks, then the later revisions run;
- a journal at the newest revision is left alone after one read of ``alembic_version``.

On SQLite the upgrade runs in one ``BEGIN IMMEDIATE`` transaction (SQLite's DDL is
transactional): a process killed mid-migration leaves the journal as it was, and two
processes opening an old journal at once migrate it once. A file that is not a database
raises; nothing here deletes or recreates a journal.

A new revision: copy the newest file in ``versions/``, give it the next number as
``revision`` and the previous one as ``down_revision``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

HERE = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the journal, on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions in ``versions/`` (read once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision in ``versions/``."""
    head = scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no journal migrations under {HERE / 'versions'}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The journal's revision; None when unversioned (new, or written before Alembic)."""
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """A connection inside one write transaction that holds the database's write lock."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        # pysqlite would run DDL outside any transaction: take transactions into our hands
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def upgrade_journal(engine: Engine) -> None:
    """Migrate the journal behind ``engine`` to the newest revision (see the module docstring).

    Raises:
        sqlalchemy.exc.DatabaseError: the file is not a database (corrupt): refused, untouched.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    with _exclusive(engine) as conn:
        if current_revision(conn) == head:  # another process migrated it meanwhile
            return
        if current_revision(conn) is None and not set(inspect(conn).get_table_names()):
            create_tables(conn)
            MigrationContext.configure(conn).stamp(scripts(), head)
        else:
            command.upgrade(alembic_config(conn), "head")


def create_tables(connection: Connection) -> None:
    """The current schema, from the tables ``serving`` defines."""
    import serving.execution.intent_tables  # noqa: F401  (its tables join the journal's metadata)
    from serving.journal import metadata

    metadata.create_all(connection)
