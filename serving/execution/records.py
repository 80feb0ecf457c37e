"""Typed rows of the ``intents`` and ``intent_orders`` tables (``serving.execution.intent_tables``).

A record is what the journal holds (or, for an order the executor is sending, what it will
hold once the bar's second transaction commits): readers use attributes, never ``row["…"]``,
so a misspelt column is a type error, not a ``KeyError`` in the middle of a reconciliation.
Records are frozen; a change is a new record (``IntentJournal.update_order``, which adds the
UPDATE and returns ``OrderRecord.updated``), so the executor's in-memory mirror of the open
orders cannot be changed behind its back through an aliased dict.

``intent_record`` and ``order_record`` are the one place a database row becomes a record:
timestamps come back tz-aware UTC whichever database stored them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from serving.utc import as_utc


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """One ``intents`` row: an order intent and what became of it."""

    intent_id: str
    role: str
    symbol: str
    magic: int
    bar_time: datetime | None
    target_volume: float
    filled_volume: float  # signed lots dealt
    remainder_volume: float  # signed lots a partial fill left undone
    state: str  # an ``IntentState`` value
    reason: str
    created_at: datetime
    updated_at: datetime
    account: str

    def columns(self) -> dict[str, object]:
        """The row's column values."""
        return dict(zip(INTENT_COLUMNS, _intent_values(self), strict=True))


@dataclass(frozen=True)
class OrderRecord:
    """One ``intent_orders`` row: an order sent (or maybe sent) for an intent.

    Not slotted: the decision path builds and updates one record per order it sends from a
    dict of column values (``order_of``, ``updated``), which costs a fifth of ``__init__``
    and ``dataclasses.replace`` on a frozen dataclass of 23 fields.
    """

    order_key: str
    intent_id: str
    seq: int
    symbol: str
    magic: int
    side: int  # +1 buy, -1 sell
    volume: float  # lots requested
    position: int  # hedging ticket closed, 0 opens
    comment: str
    state: str  # an ``OrderState`` value
    retcode: int | None
    ticket: int  # order ticket, 0 when unknown
    deal: int
    filled_volume: float  # lots dealt (unsigned)
    price: float
    attempts: int
    sent_time: int  # terminal time at the last send
    matched_by: str
    request: Mapping[str, object] | None
    reason: str
    created_at: datetime
    updated_at: datetime
    account: str

    def columns(self) -> dict[str, object]:
        """The row's column values, in the table's order (an INSERT's parameters)."""
        return dict(self.__dict__)

    def updated(self, values: Mapping[str, Any]) -> OrderRecord:
        """This record with ``values`` (column names) changed, like ``dataclasses.replace``.

        Built in the new record's own dict (no merged copy first): one per order answered.

        Raises:
            TypeError: a name in ``values`` is not a column.
        """
        order = object.__new__(OrderRecord)
        state = order.__dict__
        state.update(self.__dict__)
        state.update(values)
        if len(state) != len(ORDER_COLUMNS):
            _order_from(dict(state))  # names the stranger
        return order


INTENT_COLUMNS = tuple(f.name for f in fields(IntentRecord))
"""``intents``' columns, in the table's order."""
ORDER_COLUMNS = tuple(f.name for f in fields(OrderRecord))
"""``intent_orders``' columns, in the table's order."""
_intent_values = attrgetter(*INTENT_COLUMNS)


def _order_from(values: dict[str, Any]) -> OrderRecord:
    if len(values) != len(ORDER_COLUMNS):
        unknown = sorted(set(values) - set(ORDER_COLUMNS))
        raise TypeError(f"not columns of intent_orders: {unknown}")
    order = object.__new__(OrderRecord)
    order.__dict__.update(values)  # what the frozen __init__ does, field by field
    return order


def order_of(values: Mapping[str, Any]) -> OrderRecord:
    """The order record with these column values (every column, no other name).

    Raises:
        KeyError: a column is missing.
        TypeError: a name is not a column.
    """
    if len(values) != len(ORDER_COLUMNS):
        _order_from(dict(values))  # names the stranger
    return _order_from({name: values[name] for name in ORDER_COLUMNS})


def intent_record(row: Mapping[Any, Any]) -> IntentRecord:
    """An ``intents`` row read from the database as a record (times tz-aware UTC)."""
    values = dict(row)
    bar_time = values["bar_time"]
    values["bar_time"] = None if bar_time is None else as_utc(bar_time)
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    return IntentRecord(**values)


def order_record(row: Mapping[Any, Any]) -> OrderRecord:
    """An ``intent_orders`` row read from the database as a record (times tz-aware UTC)."""
    values = dict(row)
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    return OrderRecord(**values)
