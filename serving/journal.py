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

Writes on the decision path go through ``JournalWrites``: rows gathered in order and committed
in one transaction (``Journal.commit``), each table's rows by one prepared statement, so a
bar's decisions, intents and orders cost one commit before the first send and its outcomes
one after (``serving.execution.executor``). The schema is migrated by Alembic when a journal opens
(``serving.journal_migrations``).

Which crash each SQLite setting covers. WAL with ``synchronous=NORMAL``: a commit is in the
WAL file when ``commit`` returns, so it survives a killed process (``kill -9``, an OOM kill)
but not a power loss or an OS crash, which may take the last commits with them (the WAL is
synced at checkpoints only). ``synchronous=NORMAL`` in WAL survives a killed process but not a
power loss; after a power loss, reconciliation by magic and intent id against the terminal
keeps orders single: a position the journal no longer explains makes start-up reconciliation
disagree for that (symbol, magic) and the worker refuses to trade until an operator adopts it
(``serving.execution.startup``), and a bar decided again gets the same intent id, whose order the
terminal shows under our magic with the id in its comment. ``busy_timeout`` lets a flow's
read and the worker's write wait for each other instead of failing.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.pool import StaticPool

from serving.journal_migrations import upgrade_journal
from serving.journal_prepared import PreparedWrite

logger = logging.getLogger(__name__)

metadata = MetaData()

ACCOUNT_LENGTH = 96
"""Room for ``login@server`` (MT5 server names run to ~40 characters)."""


def account_column() -> Column[str]:
    """The ``account`` column every journal table has ("" on rows from before it existed)."""
    return Column("account", String(ACCOUNT_LENGTH), nullable=False, server_default="")


decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(32), primary_key=True),
    Column("bar_time", DateTime(timezone=True), nullable=False, index=True),
    Column("symbol", String(32), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("features", JSON, nullable=False),
    Column("signal", Integer, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("size", Float, nullable=False),
    Column("intent_id", String(64), nullable=False, index=True),
    account_column(),
    Column("latency_seconds", Float, nullable=True),  # model.decide; null before 0003
    Index("ix_decisions_account_bar_time", "account", "bar_time"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("intent_id", String(64), nullable=False, index=True),
    Column("ticket", Integer, nullable=False),
    Column("request", JSON, nullable=False),
    Column("retcode", Integer, nullable=True),
    Column("state", String(32), nullable=False),
    Column("price", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("slippage_points", Float, nullable=False),
    Column("latency_seconds", Float, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    account_column(),
    Index("ix_order_events_account_intent_id", "account", "intent_id"),
)

breaker_events = Table(
    "breaker_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("breaker", String(32), nullable=False, index=True),
    # trip | reset | reset_requested | baseline | policy (serving.risk.breakers.BreakerEvent)
    Column("event", String(16), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(64), nullable=False),
    Column("value", Float, nullable=True),  # the daily-loss baseline, a policy's target lots
    Column("intent_id", String(64), nullable=True),  # orders a tripped policy sent
    # "" on a reset request from the CLI: whichever worker runs on this home applies it
    account_column(),
)

INSERT_DECISION = insert(decisions)
INSERT_ORDER_EVENT = insert(order_events)
_BREAKER_EVENTS_SINCE = (
    select(breaker_events)
    .where(
        breaker_events.c.event_id > bindparam("after_id"),
        breaker_events.c.account.in_(bindparam("accounts", expanding=True)),
    )
    .order_by(breaker_events.c.event_id)
)
_BREAKER_EVENTS_OF_KIND_SINCE = _BREAKER_EVENTS_SINCE.where(
    breaker_events.c.event == bindparam("event")
)


def _clean(value: float) -> float | None:
    """JSON has no NaN; a feature without enough history is stored as null."""
    return None if value is None or math.isnan(value) else float(value)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}; the journal stores tz-aware UTC only")
    return value.astimezone(UTC)


def _as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive (they were stored as UTC); PostgreSQL tz-aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def to_json(value: Any) -> str:
    """JSON columns' serializer: what JSON cannot say (numpy scalars, enums) as its string."""
    return json.dumps(value, default=str)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL on every connection, in-memory one shared one."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, json_serializer=to_json)
    args: dict[str, Any] = {
        "connect_args": {"check_same_thread": False},
        "json_serializer": to_json,
    }
    if url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(url, poolclass=StaticPool, **args)
    else:
        engine = create_engine(url, **args)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def decision_row(
    *,
    bar_time: datetime,
    symbol: str,
    role: str,
    model_name: str,
    model_version: str,
    features: Mapping[str, float],
    signal: int,
    confidence: float,
    size: float,
    intent_id: str,
    account: str = "",
    decision_id: str | None = None,
    latency_seconds: float | None = None,
) -> dict[str, Any]:
    """One ``decisions`` row (``decision_id`` a fresh uuid unless given)."""
    return {
        "decision_id": decision_id or uuid.uuid4().hex,
        "bar_time": _utc(bar_time),
        "symbol": symbol,
        "role": role,
        "model_name": model_name,
        "model_version": str(model_version),
        "features": {k: _clean(v) for k, v in features.items()},
        "signal": int(signal),
        "confidence": float(confidence),
        "size": float(size),
        "intent_id": intent_id,
        "account": account,
        "latency_seconds": None if latency_seconds is None else float(latency_seconds),
    }


def order_event_row(
    *,
    intent_id: str,
    ticket: int,
    request: Mapping[str, Any],
    retcode: int | None,
    state: str,
    price: float,
    volume: float,
    slippage_points: float,
    latency_seconds: float,
    at: datetime,
    account: str = "",
) -> dict[str, Any]:
    """One ``order_events`` row (several per intent when a hedging reversal needs two)."""
    return {
        "intent_id": intent_id,
        "ticket": int(ticket),
        "request": dict(request),
        "retcode": retcode,
        "state": state,
        "price": float(price),
        "volume": float(volume),
        "slippage_points": float(slippage_points),
        "latency_seconds": float(latency_seconds),
        "at": _utc(at),
        "account": account,
    }


class JournalWrites:
    """Rows to write in one transaction (``Journal.commit``).

    A table's rows are written in the order they were added; rows of different tables
    commute (the journal has no foreign keys or triggers), so a row joins the last batch of
    the same statement and columns unless a later batch touched its table. Each batch is one
    ``executemany`` of a statement built once (SQLAlchemy compiles it once).
    """

    def __init__(self) -> None:
        self._batches: list[tuple[Any, tuple[str, ...], list[dict[str, Any]]]] = []

    def add(self, statement: Any, row: dict[str, Any]) -> None:
        """Add one row for ``statement`` (an INSERT or UPDATE of one table)."""
        keys = tuple(row)
        for batch_statement, batch_keys, rows in reversed(self._batches):
            if batch_statement is statement and batch_keys == keys:
                rows.append(row)
                return
            if batch_statement.table is statement.table:
                break
        self._batches.append((statement, keys, [row]))

    def add_decision(self, **fields: Any) -> str:
        """Add one decision (``decision_row``'s arguments); returns its ``decision_id``."""
        row = decision_row(**fields)
        self.add(INSERT_DECISION, row)
        return str(row["decision_id"])

    def add_order_event(self, **fields: Any) -> None:
        """Add one order event (``order_event_row``'s arguments)."""
        self.add(INSERT_ORDER_EVENT, order_event_row(**fields))

    def __iter__(self) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
        return ((statement, rows) for statement, _, rows in self._batches)

    def batches(self) -> Iterator[tuple[Any, tuple[str, ...], list[dict[str, Any]]]]:
        """Each batch's statement, the columns its rows give, and the rows."""
        return iter(self._batches)

    def __len__(self) -> int:
        return sum(len(rows) for _, _, rows in self._batches)

    def clear(self) -> None:
        self._batches.clear()


class Journal:
    """Decisions, order events and breaker events in one SQL database, migrated to the
    current schema when opened (a corrupt file raises; nothing is ever recreated)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade_journal(self.engine)
        self._compiled: dict[tuple[Any, tuple[str, ...]], PreparedWrite | None] = {}

    def close(self) -> None:
        self.engine.dispose()

    def commit(self, writes: JournalWrites) -> None:
        """Write every row of ``writes`` in one transaction, then empty it."""
        if not len(writes):
            return
        with self.engine.begin() as conn:
            for statement, keys, rows in writes.batches():
                prepared = self._prepared(statement, keys)
                if prepared is None:
                    conn.execute(statement, rows)
                else:
                    conn.exec_driver_sql(prepared.sql, prepared.parameters(rows))
        writes.clear()

    def _prepared(self, statement: Any, keys: tuple[str, ...]) -> PreparedWrite | None:
        """``statement`` compiled once for rows of ``keys`` (None: let SQLAlchemy run it).

        Keyed by the statement object itself, not its ``id()``: the cache holds it, so no
        other statement can ever come to share its key."""
        key = (statement, keys)
        if key not in self._compiled:
            self._compiled[key] = PreparedWrite.of(statement, keys, self.engine)
        return self._compiled[key]

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
        """Write one breaker event; returns its ``event_id`` (the order events are read in)."""
        row = {
            "breaker": breaker,
            "event": event,
            "reason": reason[:512],
            "at": _utc(at),
            "by": by[:64],
            "value": None if value is None else float(value),
            "intent_id": intent_id,
            "account": account,
        }
        with self.engine.begin() as conn:
            key = conn.execute(insert(breaker_events).values(**row)).inserted_primary_key
        return int(key[0]) if key else 0

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
            statement = _BREAKER_EVENTS_SINCE if event is None else _BREAKER_EVENTS_OF_KIND_SINCE
            params = {"after_id": after_id, "accounts": sorted(accounts), "event": event}
            with self.engine.connect() as conn:
                rows = [dict(row) for row in conn.execute(statement, params).mappings()]
        for row in rows:
            row["at"] = _as_utc(row["at"])
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
