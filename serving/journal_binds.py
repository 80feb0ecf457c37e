"""The driver's parameters for the decision path's rows (``serving.journal_writes.PreparedWrite``):
one generated function per compiled statement turns a batch of row dicts into the driver's
tuples or dicts, each value through its column's bind processor, where the processors
SQLAlchemy would call are replaced by shorter ones that return the same text for the values
the decision path writes (JSON objects, None, datetimes) and hand anything else to
SQLAlchemy's own.

Why: per row, an ``itemgetter``, a list copy, a Python loop over the processed columns and
SQLAlchemy's generic JSON processor (checks for its NULL sentinels, then the serializer,
which checks for a string) cost more than the SQLite insert of the row. The stored bytes are
the same: ``tests/unit/test_journal.py`` holds the fast path to SQLAlchemy's own execute on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite.base import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import sqltypes

from serving.journal_engine import ENCODE_JSON, to_json

Processor = Callable[[Any], Any]
RowsBuilder = Callable[[Sequence[Mapping[str, Any]]], list[Any]]

SQLITE_TIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
"""SQLAlchemy's storage format for SQLite datetimes (naive wall time, microseconds): what
``datetime.isoformat(" ", "microseconds")`` writes up to its UTC offset."""


def fast_processor(column_type: Any, dialect: Dialect, process: Processor) -> Processor:
    """``process`` (the dialect's bind processor for ``column_type``) or a shorter one that
    returns what it returns: JSON columns serialized by ``to_json`` with no string processor
    after it, and SQLite's datetimes in the default storage format. A datetime column's
    processor remembers its last answers: a bar's rows carry the same few times (its bar
    time, the time it was written), formatted once each; on SQLite one memory serves every
    column in the default format, whose processors are the same function of the value."""
    impl = column_type.dialect_impl(dialect)
    if _plain_json(impl, dialect):
        return _json_text(process)
    if isinstance(column_type, sqltypes.DateTime):
        if _default_sqlite_datetime(impl):
            return sqlite_time
        return functools.lru_cache(maxsize=64)(process)
    return process


def _plain_json(impl: Any, dialect: Dialect) -> bool:
    """Whether ``impl``'s bind processor is SQLAlchemy's generic JSON one, serializing with
    ``to_json`` and passing its text on as it is (SQLite, psycopg)."""
    return (
        ENCODE_JSON is not None
        and isinstance(impl, sqltypes.JSON)
        and type(impl).bind_processor is sqltypes.JSON.bind_processor
        and type(impl)._make_bind_processor is sqltypes.JSON._make_bind_processor
        and getattr(dialect, "_json_serializer", None) is to_json
        and impl._str_impl.bind_processor(dialect) is None
    )


def _json_text(process: Processor) -> Processor:
    """A JSON column's processor: an object (a dict: features, order requests) through the C
    encoder at once, None as ``process`` writes it (worked out once), anything else (a list,
    SQLAlchemy's NULL sentinels) through ``process`` itself."""
    null, encode = process(None), ENCODE_JSON

    def json_text(value: Any) -> Any:
        if type(value) is dict:
            return "".join(encode(value, 0))
        if value is None:
            return null
        return process(value)

    return json_text


def _default_sqlite_datetime(impl: Any) -> bool:
    return (
        isinstance(impl, SQLITE_DATETIME)
        and type(impl).bind_processor is SQLITE_DATETIME.bind_processor
        and impl._storage_format == SQLITE_TIME_FORMAT
    )


def _default_sqlite_process() -> Processor:
    """SQLAlchemy's processor for SQLite datetimes in the default format."""
    dialect = sqlite.dialect()
    process = sqltypes.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    return process


_SQLITE_DATETIME_PROCESS = _default_sqlite_process()


@functools.lru_cache(maxsize=64)
def sqlite_time(value: Any) -> Any:
    """SQLite's datetime processor in the default format: a ``datetime`` (its wall time, any
    offset dropped, as SQLAlchemy does) in one C call; dates, None and strangers through
    SQLAlchemy's own. Remembered by value: the journal's times are all UTC (``to_utc``),
    where equal datetimes have equal wall times."""
    if type(value) is datetime:
        return value.isoformat(" ", "microseconds")[:26]
    return _SQLITE_DATETIME_PROCESS(value)


def rows_builder(
    names: Sequence[str], processors: Mapping[str, Processor], *, positional: bool
) -> RowsBuilder:
    """A function of a batch of rows that returns the driver's parameters: per row a tuple of
    its values in ``names``' order (``positional``) or a dict by name, each value of a
    column in ``processors`` through its processor.

    Generated once per compiled statement as one list comprehension over the rows, each row
    one tuple (or dict) display: no call or loop per column but the processors'. ``names``
    appear in it only as string literals (``repr``), processors as the names ``p0``, ``p1``…
    of the function's globals."""
    namespace: dict[str, Any] = {}
    values = []
    for i, name in enumerate(names):
        value = f"row[{name!r}]"
        if name in processors:
            namespace[f"p{i}"] = processors[name]
            value = f"p{i}({value})"
        values.append(value if positional else f"{name!r}: {value}")
    display = f"({', '.join(values)},)" if positional else f"{{{', '.join(values)}}}"
    source = f"def parameters(rows):\n    return [{display} for row in rows]\n"
    # named after this module, so a profile counts the generated code as the journal's own
    exec(compile(source, "<serving/journal_binds.py: parameters>", "exec"), namespace)
    builder: RowsBuilder = namespace["parameters"]
    return builder
