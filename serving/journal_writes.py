"""The decision path's writes: rows gathered per transaction, each table's statement compiled
once, executed with the driver's ``executemany`` (``serving.journal.Journal.commit``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from serving.journal_binds import fast_processor, rows_builder
from serving.journal_schema import INSERT_DECISION, INSERT_ORDER_EVENT
from serving.utc import to_utc


def new_decision_id() -> str:
    """A fresh id of 32 hex digits: the time in nanoseconds, then 8 random bytes. Ids that
    grow with time go to the right edge of the primary key's index, so a bar's decisions
    touch one page of it, not one page each (random uuids did)."""
    return f"{time.time_ns():016x}{_random_hex()}"


_RANDOM_HEX: list[str] = []
"""16 hex digits of ``os.urandom`` per id, drawn 256 at a time: one system call per 256
decisions instead of one each (it was half of an id's cost). Emptied in a forked child, so
a parent and its child never draw the same bytes."""
os.register_at_fork(after_in_child=_RANDOM_HEX.clear)


def _random_hex() -> str:
    try:
        return _RANDOM_HEX.pop()
    except IndexError:  # empty: draw the next 256 (another thread's draw is as good)
        drawn = os.urandom(8 * 256).hex()
        _RANDOM_HEX.extend(drawn[i : i + 16] for i in range(16, len(drawn), 16))
        return drawn[:16]


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
    """One ``decisions`` row (``decision_id`` a fresh random id unless given). JSON has no
    NaN: a feature without enough history is stored as null."""
    return decision_values(
        decision_id or new_decision_id(),
        to_utc(bar_time),
        symbol,
        role,
        model_name,
        str(model_version),
        {k: None if v is None or v != v else float(v) for k, v in features.items()},
        int(signal),
        float(confidence),
        float(size),
        intent_id,
        account,
        None if latency_seconds is None else float(latency_seconds),
    )


def decision_values(
    decision_id: str,
    bar_time: datetime,
    symbol: str,
    role: str,
    model_name: str,
    model_version: str,
    features: dict[str, float | None],
    signal: int,
    confidence: float,
    size: float,
    intent_id: str,
    account: str,
    latency_seconds: float | None,
) -> dict[str, Any]:
    """One ``decisions`` row from values already as stored (``bar_time`` UTC, ``features``
    floats or None, numbers of their column's type): the worker's path, which builds each
    value in its stored form once, where ``decision_row`` converts whatever it is given."""
    return {
        "decision_id": decision_id,
        "bar_time": bar_time,
        "symbol": symbol,
        "role": role,
        "model_name": model_name,
        "model_version": model_version,
        "features": features,
        "signal": signal,
        "confidence": confidence,
        "size": size,
        "intent_id": intent_id,
        "account": account,
        "latency_seconds": latency_seconds,
    }


def stored_features(names: Sequence[str], values: Sequence[float]) -> dict[str, float | None]:
    """A decision's features by name as stored: JSON has no NaN, so NaN is null (``values``
    Python floats, e.g. ``ndarray.tolist()`` of float64). A sum without NaN says no value
    is NaN (one C call; infinities of both signs sum to NaN too and take the long way), so
    a warmed-up decision's features are zipped as they are."""
    total = sum(values)
    if total == total:
        return dict(zip(names, values, strict=True))
    return {k: None if v != v else v for k, v in zip(names, values, strict=True)}


def order_event_row(
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
    """One ``order_events`` row (several per intent when a hedging reversal needs two). Its
    parameters are in the table's column order: the worker passes them by position, one
    event per order sent, where keywords cost it more than the row."""
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
        "at": to_utc(at),
        "account": account,
    }


_Batch = tuple[Any, tuple[str, ...], list[dict[str, Any]]]
"""A statement, the columns its rows give, and the rows."""


class JournalWrites:
    """Rows to write in one transaction (``Journal.commit``).

    A table's rows are written in the order they were added; rows of different tables
    commute (the journal has no foreign keys or triggers), so a row joins the last batch of
    the same statement and columns unless a later batch touched its table. Each batch is one
    ``executemany`` of a statement compiled once.
    """

    def __init__(self) -> None:
        self._batches: list[_Batch] = []
        # each table's last batch, the only one a new row of that table may join (a batch
        # checked back from the end stops at its table's first): set whenever a batch
        # starts, emptied with the batches
        self._latest: dict[Any, _Batch] = {}

    def add(self, statement: Any, row: dict[str, Any]) -> None:
        """Add one row for ``statement`` (an INSERT or UPDATE of one table)."""
        keys = tuple(row)
        latest = self._latest.get(statement.table)
        if latest is not None and latest[0] is statement and latest[1] == keys:
            latest[2].append(row)
            return
        batch = (statement, keys, [row])
        self._batches.append(batch)
        self._latest[statement.table] = batch

    def add_decision(self, **fields: Any) -> str:
        """Add one decision (``decision_row``'s arguments); returns its ``decision_id``."""
        row = decision_row(**fields)
        self.add(INSERT_DECISION, row)
        return str(row["decision_id"])

    def add_decision_row(self, row: dict[str, Any]) -> None:
        """Add one complete ``decisions`` row (``decision_values``)."""
        self.add(INSERT_DECISION, row)

    def add_order_event(self, **fields: Any) -> None:
        """Add one order event (``order_event_row``'s arguments)."""
        self.add(INSERT_ORDER_EVENT, order_event_row(**fields))

    def add_order_event_row(self, row: dict[str, Any]) -> None:
        """Add one complete ``order_events`` row (``order_event_row``)."""
        self.add(INSERT_ORDER_EVENT, row)

    def __iter__(self) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
        return ((statement, rows) for statement, _, rows in self._batches)

    def batches(self) -> list[_Batch]:
        """Each batch's statement, the columns its rows give, and the rows (the list itself:
        read it before ``clear``, do not change it)."""
        return self._batches

    def __len__(self) -> int:
        return sum(len(rows) for _, _, rows in self._batches)

    def __bool__(self) -> bool:
        """Whether any row was added (every batch holds one): no count of them."""
        return bool(self._batches)

    def clear(self) -> None:
        self._batches.clear()
        self._latest.clear()


class PreparedWrite:
    """A decision-path statement compiled once for the engine's dialect and one set of row
    columns, executed through the driver's ``executemany`` with the dialect's own bind
    processors or ones that write the same (``serving.journal_binds``: JSON through the
    engine's serializer, dates as the dialect stores them). SQLAlchemy's per-execute work
    (cache key, parameter construction) cost more than the SQLite write itself; the SQL and
    the values it writes are the same."""

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        processors: Mapping[str, Callable[[Any], Any]],
        *,
        positional: bool = False,
    ) -> None:
        self.sql, self.names, self.positional = sql, names, positional
        self._build = rows_builder(names, processors, positional=positional)

    @classmethod
    def of(cls, statement: Any, keys: tuple[str, ...], engine: Engine) -> PreparedWrite | None:
        """``statement`` compiled for rows of ``keys``; None when SQLAlchemy must fill in
        something the rows do not give (a column default, an escaped bind name)."""
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(compiled.bind_names.values())
        if set(names) != set(keys) or compiled.escaped_bind_names:
            return None
        processors = {
            name: fast_processor(compiled.binds[name].type, dialect, process)
            for name, process in compiled._bind_processors.items()
            if process is not None
        }
        return cls(str(compiled), names, processors, positional=bool(compiled.positional))

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters for ``rows``: tuples (positional styles) or dicts, built
        by one generated comprehension (``serving.journal_binds.rows_builder``)."""
        return self._build(rows)
