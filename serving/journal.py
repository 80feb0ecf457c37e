"""The trading journal: one row per decision and one per order event (DESIGN "Journal").

Only the worker writes it; flows read it (drift needs the features each decision saw, so
they are stored as JSON and parsed back into columns). SQLAlchemy 2 Core keeps one code
path for the embedded SQLite file (WAL, so flows can read while the worker writes) and for
PostgreSQL by URL. The worker records a decision, with its intent id, *before* it sends an
order, so a crash between the two leaves a visible intent rather than an orphan order.

``breaker_events`` is the circuit breakers' memory: every trip, reset and daily-loss baseline,
so a restarted worker rebuilds its breakers (a restart is not a reset). An operator's reset
*request* is the one row written from outside the worker (``request_breaker_reset``); the
worker applies it between bars and writes the ``reset`` itself.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

metadata = MetaData()

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
)

breaker_events = Table(
    "breaker_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("breaker", String(32), nullable=False, index=True),
    # trip | reset | reset_requested | baseline | policy (serving.breakers.BreakerEvent)
    Column("event", String(16), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(64), nullable=False),
    Column("value", Float, nullable=True),  # the daily-loss baseline, a policy's target lots
    Column("intent_id", String(64), nullable=True),  # orders a tripped policy sent
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


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL on every connection, in-memory one shared one."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Journal:
    """Decisions and order events in one SQL database (tables created when missing)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def record_decision(
        self,
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
        decision_id: str | None = None,
    ) -> str:
        """Write one decision; returns its ``decision_id`` (a fresh uuid unless given)."""
        decision_id = decision_id or uuid.uuid4().hex
        row = {
            "decision_id": decision_id,
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
        }
        with self.engine.begin() as conn:
            conn.execute(insert(decisions), [row])
        return decision_id

    def record_order_event(
        self,
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
    ) -> None:
        """Write one order event (several per intent when a hedging reversal needs two)."""
        row = {
            "intent_id": intent_id,
            "ticket": int(ticket),
            "request": json.loads(json.dumps(dict(request), default=str)),
            "retcode": retcode,
            "state": state,
            "price": float(price),
            "volume": float(volume),
            "slippage_points": float(slippage_points),
            "latency_seconds": float(latency_seconds),
            "at": _utc(at),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(order_events), [row])

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
        }
        with self.engine.begin() as conn:
            key = conn.execute(insert(breaker_events).values(**row)).inserted_primary_key
        return int(key[0]) if key else 0

    def request_breaker_reset(self, breaker: str, *, by: str, at: datetime, note: str = "") -> int:
        """Ask the worker to reset ``breaker``; it applies the request between bars (or at
        start-up) and journals the reset under ``by``. What an operator's CLI calls."""
        return self.record_breaker_event(
            breaker=breaker, event="reset_requested", reason=note or "reset requested", at=at, by=by
        )

    def breaker_event_rows(
        self, *, after_id: int = 0, event: str | None = None
    ) -> list[dict[str, Any]]:
        """Breaker events after ``after_id`` (of one ``event`` kind if given), oldest first, as
        plain rows — cheap enough for the worker to poll between bars."""
        query = (
            select(breaker_events)
            .where(breaker_events.c.event_id > after_id)
            .order_by(breaker_events.c.event_id)
        )
        if event is not None:
            query = query.where(breaker_events.c.event == event)
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:
            row["at"] = _as_utc(row["at"])
        return rows

    def read_breaker_events(self, breaker: str | None = None, *, after_id: int = 0) -> pd.DataFrame:
        """Breaker events in the order they happened (``at`` tz-aware UTC)."""
        rows = self.breaker_event_rows(after_id=after_id)
        if breaker is not None:
            rows = [row for row in rows if row["breaker"] == breaker]
        frame = pd.DataFrame(rows, columns=breaker_events.c.keys())
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    def read_decisions(
        self, model_name: str | None = None, version: str | None = None
    ) -> pd.DataFrame:
        """Decisions, oldest bar first, with each feature as its own float column.

        ``bar_time`` comes back tz-aware UTC whichever database stored it.
        """
        query = select(decisions).order_by(decisions.c.bar_time, decisions.c.symbol)
        if model_name is not None:
            query = query.where(decisions.c.model_name == model_name)
        if version is not None:
            query = query.where(decisions.c.model_version == str(version))
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=decisions.c.keys())
        frame["bar_time"] = pd.to_datetime(frame["bar_time"], utc=True)
        features = pd.DataFrame(frame.pop("features").tolist(), index=frame.index)
        clash = set(features.columns) & set(frame.columns)
        if clash:
            features = features.add_prefix("feature_")
        return pd.concat([frame, features.astype("float64")], axis=1)

    def read_order_events(self, intent_id: str | None = None) -> pd.DataFrame:
        """Order events in insertion order (``at`` tz-aware UTC)."""
        query = select(order_events).order_by(order_events.c.event_id)
        if intent_id is not None:
            query = query.where(order_events.c.intent_id == intent_id)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(
                conn.execute(query).mappings().all(), columns=order_events.c.keys()
            )
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame
