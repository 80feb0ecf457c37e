"""The trading journal: one row per decision and one per order event (DESIGN "Journal").

Only the worker writes it; flows read it (drift needs the features each decision saw, so
they are stored as JSON and parsed back into columns). SQLAlchemy 2 Core keeps one code
path for the embedded SQLite file (WAL, so flows can read while the worker writes) and for
PostgreSQL by URL. The worker records a decision, with its intent id, *before* it sends an
order, so a crash between the two leaves a visible intent rather than an orphan order.

Every row carries the ``account`` it was made on (``login@server``; "" for rows written
before the column existed): reconciliation, breaker state and evidence are scoped to one
account, and two replays of the same bars on two simulated accounts are told apart.

``breaker_events`` is the circuit breakers' memory: every trip, reset and daily-loss baseline,
so a restarted worker rebuilds its breakers (a restart is not a reset). An operator's reset
*request* is the one row written from outside the worker (``request_breaker_reset``); the
worker applies it between bars and writes the ``reset`` itself.

Writes on the decision path go through ``JournalWrites`` (``serving.journal_writes``): rows
gathered in order and committed in one transaction (``Journal.commit``), each table's rows by
one compiled statement through the driver's ``executemany`` on one connection the journal
holds, so a bar's decisions, intents and orders cost one commit before the first send and its
outcomes one after (``serving.execution.executor``). SQLAlchemy keeps the schema
(``serving.journal_schema``), the migrations (Alembic, when a journal opens:
``serving.journal_migrations``) and the reads. The SQLite settings, and which crash each
covers, are ``serving.journal_engine``'s.

What differs on PostgreSQL (``postgresql+psycopg://``; the tests run both, ``journal_url``):
the PRAGMAs are SQLite's alone (the server keeps its own durability settings); the
same Alembic revisions run (their DDL is transactional on both, so a failed migration rolls
back whole); the decision path's compiled statements and ``executemany`` are the same code
(the dialect compiles ``%(name)s`` binds and its own JSON and ``timestamptz`` processors);
``breaker_events_version`` reads the newest event id instead of ``PRAGMA data_version``, and
breaker events take a table lock so their ids commit in order; the integrity checks and the
per-account lock have their own server paths (``serving.journal_integrity``,
``serving.account_lock``). No statement is ``INSERT OR IGNORE``/``ON CONFLICT``: nothing
dialect-specific is written outside these.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DatabaseError, DBAPIError

from serving.journal_checkpoints import Checkpointer
from serving.journal_engine import make_engine
from serving.journal_integrity import refusal_of, refuse_empty_file
from serving.journal_migrations import upgrade_journal
from serving.journal_schema import (
    ACCOUNT_LENGTH,
    BREAKER_EVENTS_OF_KIND_SINCE,
    BREAKER_EVENTS_SINCE,
    INSERT_DECISION,
    INSERT_ORDER_EVENT,
    account_column,
    breaker_events,
    decisions,
    metadata,
    order_events,
)
from serving.journal_writes import JournalWrites, PreparedWrite, decision_row, order_event_row
from serving.utc import as_utc, to_utc

__all__ = [
    "ACCOUNT_LENGTH",
    "INSERT_DECISION",
    "INSERT_ORDER_EVENT",
    "Journal",
    "JournalWrites",
    "account_column",
    "breaker_events",
    "decision_row",
    "decisions",
    "metadata",
    "order_event_row",
    "order_events",
]

logger = logging.getLogger(__name__)

LATEST_BREAKER_EVENT = select(func.max(breaker_events.c.event_id))
INSERT_BREAKER_EVENT = insert(breaker_events)
"""Built once, its values bound per call: ``insert().values(**row)`` built and cache-keyed a
new statement per event, most of an event's cost."""
LOCK_BREAKER_EVENTS = text("LOCK TABLE breaker_events IN SHARE ROW EXCLUSIVE MODE")
"""PostgreSQL: conflicts with itself and with plain inserts, not with reads."""


class Journal:
    """Decisions, order events and breaker events in one SQL database, migrated to the
    current schema when opened (a corrupt file raises; nothing is ever recreated)."""

    def __init__(self, url: str) -> None:
        self.url = url
        refuse_empty_file(url)  # SQLite would take a truncated file for a new database
        self.engine = make_engine(url)
        try:
            upgrade_journal(self.engine)
        except DatabaseError as error:
            self.engine.dispose()
            raise refusal_of(url, error) from None
        self._compiled: dict[tuple[Any, tuple[str, ...]], PreparedWrite | None] = {}
        self._writer: Any = None  # the DBAPI connection the decision path writes on
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._postgresql = self.engine.dialect.name == "postgresql"
        self._requests_written = 0  # reset requests written through this journal
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        self.checkpointer = Checkpointer(self.engine) if self._sqlite and not in_memory else None

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self._drop_writer()
        self.engine.dispose()

    def _connection(self) -> Any:
        """The held DBAPI connection (opened on first use, again after a failure)."""
        if self._writer is None:
            self._writer = self.engine.raw_connection()
        return self._writer

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # a broken connection: the pool discards it
                logger.debug("closing the journal's writer failed", exc_info=True)

    def commit(self, writes: JournalWrites) -> None:
        """Write every row of ``writes`` in one transaction, then empty it.

        Each batch is one ``executemany`` of its compiled statement on the held connection,
        committed by the driver: no SQLAlchemy per-execute work on the decision path. A batch
        SQLAlchemy must complete (a column default the rows leave out) sends the whole
        transaction through SQLAlchemy instead. A failure rolls the whole transaction back
        and drops the connection (the next commit opens a fresh one); it raises.
        """
        if not writes:
            return
        batches = writes.batches()
        prepared = [self._prepared(statement, keys) for statement, keys, _ in batches]
        if None in prepared:
            with self.engine.begin() as conn:
                for statement, _, rows in batches:
                    conn.execute(statement, rows)
            writes.clear()
            return
        writer, sql = self._connection(), None
        try:
            driver = writer.dbapi_connection  # the pool's proxy adds a Python call per use
            cursor = driver.cursor()
            try:
                for write, (_, _, rows) in zip(prepared, batches, strict=True):
                    assert write is not None
                    sql = write.sql
                    cursor.executemany(sql, write.parameters(rows))
            finally:
                cursor.close()
            driver.commit()
        except BaseException as e:
            wrapped = self._abandon_writer(writer, e, sql)
            if wrapped is None:
                raise
            raise wrapped from e
        writes.clear()
        if self.checkpointer is not None:
            self.checkpointer.committed()

    def _abandon_writer(self, writer: Any, error: BaseException, sql: str | None) -> Any:
        """After a failed write on the held connection: roll back, drop it (the next write
        opens a fresh one) and return the driver's error as SQLAlchemy would raise it
        (IntegrityError, …); None for any other error (the caller re-raises it as it is)."""
        try:
            writer.rollback()
        except Exception:
            logger.debug("rolling the journal's writer back failed", exc_info=True)
        self._drop_writer()
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        if isinstance(error, dbapi_error):
            return DBAPIError.instance(sql, None, error, dbapi_error, dialect=self.engine.dialect)
        return None

    def _prepared(self, statement: Any, keys: tuple[str, ...]) -> PreparedWrite | None:
        """``statement`` compiled once for rows of ``keys`` (None: let SQLAlchemy run it).

        Keyed by the statement object itself, not its ``id()``: the cache holds it, so no
        other statement can ever come to share its key."""
        key = (statement, keys)
        try:
            return self._compiled[key]
        except KeyError:
            prepared = self._compiled[key] = PreparedWrite.of(statement, keys, self.engine)
            return prepared

    def breaker_events_version(self) -> tuple[int, int] | None:
        """A value that changes whenever breaker events may have been written since it was
        last read (``serving.risk.board``'s cue to read them); None where the database cannot
        tell cheaply (the caller then polls on a clock).

        On SQLite, ``PRAGMA data_version`` of the held connection moves when any other
        connection (another process: the operator's CLI) commits. This journal writes its own
        breaker events on that held connection, so they do not move it: the worker's trips and
        daily baselines are not news to the worker. Reset requests written through this
        journal are counted here instead, since the in-memory database has one connection for
        all (an operator's request there comes through this journal). On PostgreSQL, the
        newest ``event_id`` (one primary-key lookup): breaker events commit in the order of
        their ids there (``record_breaker_event``), so a new row moves it, ours included.
        """
        if self._postgresql:
            with self.engine.connect() as conn:
                latest = conn.execute(LATEST_BREAKER_EVENT).scalar()
            return int(latest or 0), self._requests_written
        if not self._sqlite:
            return None
        writer = self._connection()
        cursor = writer.cursor()
        try:
            (version,) = cursor.execute("PRAGMA data_version").fetchone()
        finally:
            cursor.close()
        return int(version), self._requests_written

    def record_decision(self, **fields: Any) -> str:
        """Write one decision now (``decision_row``'s arguments); returns its ``decision_id``."""
        writes = JournalWrites()
        decision_id = writes.add_decision(**fields)
        self.commit(writes)
        return decision_id

    def record_order_event(self, **fields: Any) -> None:
        """Write one order event now (``order_event_row``'s arguments)."""
        writes = JournalWrites()
        writes.add_order_event(**fields)
        self.commit(writes)

    def record_breaker_event(
        self,
        *,
        breaker: str,
        event: str,
        reason: str,
        at: datetime,
        by: str,
        value: float | None = None,
        intent_id: str | None = None,
        account: str = "",
    ) -> int:
        """Write one breaker event; returns its ``event_id`` (the order events are read in).

        Readers ask for the events after the last id they saw (``breaker_event_rows``). SQLite
        serializes writers, so ids commit in order; a PostgreSQL sequence does not (a reset
        request drawing id 10 could commit after the worker's id 11 was read, and be skipped
        for good), so there each insert first takes a table lock that conflicts only with
        other writers of this table (reads go on), held to its commit. On SQLite the row is
        written on the held connection (``breaker_events_version`` says why)."""
        row = {
            "breaker": breaker,
            "event": event,
            "reason": reason[:512],
            "at": to_utc(at),
            "by": by[:64],
            "value": None if value is None else float(value),
            "intent_id": intent_id,
            "account": account,
        }
        prepared = self._prepared(INSERT_BREAKER_EVENT, tuple(row)) if self._sqlite else None
        if prepared is not None:
            event_id = self._insert_on_writer(prepared, row)
        else:
            with self.engine.begin() as conn:
                if self._postgresql:  # ids commit in the order they are drawn (see above)
                    conn.execute(LOCK_BREAKER_EVENTS)
                key = conn.execute(INSERT_BREAKER_EVENT, row).inserted_primary_key
            event_id = int(key[0]) if key else 0
        if event == "reset_requested":
            self._requests_written += 1
        return event_id

    def _insert_on_writer(self, prepared: PreparedWrite, row: dict[str, Any]) -> int:
        """Insert and commit one row on the held connection; its rowid."""
        writer = self._connection()
        try:
            cursor = writer.cursor()
            try:
                cursor.execute(prepared.sql, prepared.parameters([row])[0])
                rowid = cursor.lastrowid
            finally:
                cursor.close()
            writer.commit()
        except BaseException as e:
            wrapped = self._abandon_writer(writer, e, prepared.sql)
            if wrapped is None:
                raise
            raise wrapped from e
        return int(rowid or 0)

    def request_breaker_reset(
        self, breaker: str, *, by: str, at: datetime, note: str = "", account: str = ""
    ) -> int:
        """Ask the worker to reset ``breaker``; it applies the request between bars (or at
        start-up) and journals the reset under ``by``. What an operator's CLI calls: with
        ``account`` "" (the CLI does not know it) whichever worker runs on this home applies it."""
        return self.record_breaker_event(
            breaker=breaker,
            event="reset_requested",
            reason=note or "reset requested",
            at=at,
            by=by,
            account=account,
        )

    def breaker_event_rows(
        self,
        *,
        after_id: int = 0,
        event: str | None = None,
        accounts: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Breaker events after ``after_id`` (of one ``event`` kind, of ``accounts``, if
        given), oldest first, as plain rows — cheap enough for the worker to poll between bars."""
        if accounts is None:
            query = select(breaker_events).where(breaker_events.c.event_id > after_id)
            if event is not None:
                query = query.where(breaker_events.c.event == event)
            with self.engine.connect() as conn:
                found = conn.execute(query.order_by(breaker_events.c.event_id))
                rows = [dict(row) for row in found.mappings()]
        else:  # the worker's poll between bars: statements built once
            statement = BREAKER_EVENTS_SINCE if event is None else BREAKER_EVENTS_OF_KIND_SINCE
            params = {"after_id": after_id, "accounts": sorted(accounts), "event": event}
            with self.engine.connect() as conn:
                rows = [dict(row) for row in conn.execute(statement, params).mappings()]
        for row in rows:
            row["at"] = as_utc(row["at"])
        return rows

    def read_breaker_events(
        self, breaker: str | None = None, *, after_id: int = 0, account: str | None = None
    ) -> pd.DataFrame:
        """Breaker events in the order they happened (``at`` tz-aware UTC), of one
        ``account`` if given."""
        accounts = None if account is None else [account]
        rows = self.breaker_event_rows(after_id=after_id, accounts=accounts)
        if breaker is not None:
            rows = [row for row in rows if row["breaker"] == breaker]
        frame = pd.DataFrame(rows, columns=breaker_events.c.keys())
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    def read_decisions(
        self,
        model_name: str | None = None,
        version: str | None = None,
        *,
        account: str | None = None,
    ) -> pd.DataFrame:
        """Decisions, oldest bar first, with each feature as its own float column; of one
        model, version and ``account`` when given.

        ``bar_time`` comes back tz-aware UTC whichever database stored it.
        """
        query = select(decisions).order_by(decisions.c.bar_time, decisions.c.symbol)
        if model_name is not None:
            query = query.where(decisions.c.model_name == model_name)
        if version is not None:
            query = query.where(decisions.c.model_version == str(version))
        if account is not None:
            query = query.where(decisions.c.account == account)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=decisions.c.keys())
        frame["bar_time"] = pd.to_datetime(frame["bar_time"], utc=True)
        features = pd.DataFrame(frame.pop("features").tolist(), index=frame.index)
        clash = set(features.columns) & set(frame.columns)
        if clash:
            features = features.add_prefix("feature_")
        return pd.concat([frame, features.astype("float64")], axis=1)

    def read_order_events(
        self, intent_id: str | None = None, *, account: str | None = None
    ) -> pd.DataFrame:
        """Order events in insertion order (``at`` tz-aware UTC), of one intent and
        ``account`` when given."""
        query = select(order_events).order_by(order_events.c.event_id)
        if intent_id is not None:
            query = query.where(order_events.c.intent_id == intent_id)
        if account is not None:
            query = query.where(order_events.c.account == account)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(
                conn.execute(query).mappings().all(), columns=order_events.c.keys()
            )
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame
