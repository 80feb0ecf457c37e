"""The decision path's bind processors write what SQLAlchemy's own would, value for value, on
both dialects; the generated parameters put each row's values where the driver expects them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from sqlalchemy import JSON, create_engine
from sqlalchemy.engine import Engine

from serving.execution.intent_tables import INSERT_INTENT, INSERT_ORDER, UPDATE_ORDER
from serving.journal_binds import fast_processor, rows_builder
from serving.journal_engine import make_engine, to_json
from serving.journal_schema import INSERT_DECISION, INSERT_ORDER_EVENT

JSON_VALUES: list[Any] = [
    {"ret_1": 0.1 + 0.2, "vol": None, "é→z": np.float64(1e-7), "x": 1e300, "n": float("nan")},
    {"comment": 't→x"q', "volume": np.float64(0.07), "legs": [1, None, "a"], 1: (2, 3)},
    {},
    None,
    JSON.NULL,
    [1, 2.5, None],
    "text",
    3,
]
TIMES: list[Any] = [
    datetime(2024, 3, 1, 13, 0, 0, 123456, tzinfo=UTC),
    datetime(2024, 3, 1, 13, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2024, 3, 1, 13, 5, tzinfo=timezone(timedelta(hours=2))),  # wall time kept
    datetime(987, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a year of three digits
    date(2024, 3, 1),
    None,
]


def _engines() -> list[Engine]:
    """SQLite as the journal opens it; PostgreSQL's dialect as the journal's engine gets it
    (compiling needs no server)."""
    postgres = create_engine("postgresql+psycopg://tate@localhost/none", json_serializer=to_json)
    return [make_engine("sqlite://"), postgres]


@pytest.mark.parametrize("engine", _engines(), ids=lambda e: e.dialect.name)
@pytest.mark.parametrize(
    "statement", [INSERT_DECISION, INSERT_ORDER_EVENT, INSERT_INTENT, INSERT_ORDER, UPDATE_ORDER]
)
def test_each_columns_processor_returns_what_sqlalchemys_returns(
    engine: Engine, statement: Any
) -> None:
    compiled = statement.compile(dialect=engine.dialect)
    checked = 0
    for name, process in compiled._bind_processors.items():
        if process is None:
            continue
        fast = fast_processor(compiled.binds[name].type, engine.dialect, process)
        values = JSON_VALUES if isinstance(compiled.binds[name].type, JSON) else TIMES
        for value in values if fast is not process else []:
            for _ in range(2):  # a remembered answer too
                assert fast(value) == process(value), (name, value)
                assert type(fast(value)) is type(process(value))
            checked += 1
    json_columns = [c for c in statement.table.c if isinstance(c.type, JSON)]
    if engine.dialect.name == "sqlite":  # none fell back to SQLAlchemy's
        assert checked >= len(json_columns) * len(JSON_VALUES)
    else:  # psycopg's processor wraps the value in its own adapter: left as it is
        assert checked == 0


def test_a_datetime_subclass_and_a_stranger_go_through_sqlalchemys_processor() -> None:
    engine = make_engine("sqlite://")
    compiled = INSERT_DECISION.compile(dialect=engine.dialect)
    process = compiled._bind_processors["bar_time"]
    fast = fast_processor(compiled.binds["bar_time"].type, engine.dialect, process)

    class Stamp(datetime):
        def isoformat(self, *args: Any, **kwargs: Any) -> str:
            return "not a time"

    stamp = Stamp(2024, 3, 1, 13, tzinfo=UTC)
    assert fast(stamp) == process(stamp) == "2024-03-01 13:00:00.000000"
    with pytest.raises(TypeError):
        fast("2024-03-01")


def test_generated_parameters_take_each_column_by_name_in_the_drivers_order() -> None:
    names = ("a", 'it\'s "b"', "c")
    rows = [{"c": 3, "a": 1, 'it\'s "b"': 2}, {"a": "x", 'it\'s "b"': None, "c": 0.5}]
    double = {"c": lambda v: v * 2}
    assert rows_builder(names, double, positional=True)(rows) == [(1, 2, 6), ("x", None, 1.0)]
    assert rows_builder(names, double, positional=False)(rows) == [
        {"a": 1, 'it\'s "b"': 2, "c": 6},
        {"a": "x", 'it\'s "b"': None, "c": 1.0},
    ]
    assert rows_builder(("a",), {}, positional=True)(rows) == [(1,), ("x",)]
    assert rows_builder(names, {}, positional=True)([]) == []
