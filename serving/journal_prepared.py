"""Decision-path writes compiled once (``serving.journal.Journal.commit``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine


class PreparedWrite:
    """A decision-path statement compiled once for the engine's dialect and one set of row
    columns, executed through the driver's ``executemany`` with the dialect's own bind
    processors (JSON through the engine's serializer, dates as the dialect stores them).
    SQLAlchemy's per-execute work (cache key, parameter construction) cost more than the
    SQLite write itself; the SQL and the values it writes are the same."""

    def __init__(self, sql: str, names: tuple[str, ...], processors: dict[str, Any]) -> None:
        self.sql, self.names, self.processors = sql, names, processors
        self.positional = False

    @classmethod
    def of(cls, statement: Any, keys: tuple[str, ...], engine: Engine) -> PreparedWrite | None:
        compiled = statement.compile(dialect=engine.dialect, column_keys=list(keys))
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(compiled.bind_names.values())
        if set(names) != set(keys) or compiled.escaped_bind_names:
            return None  # a column default or an escaped name: SQLAlchemy fills it in
        processors = {n: p for n, p in compiled._bind_processors.items() if p is not None}
        prepared = cls(str(compiled), names, processors)
        prepared.positional = bool(compiled.positional)
        return prepared

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        procs, names = self.processors, self.names
        processed = [
            {n: (procs[n](row[n]) if n in procs else row[n]) for n in names} for row in rows
        ]
        if self.positional:
            return [tuple(row[n] for n in names) for row in processed]
        return processed
