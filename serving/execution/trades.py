"""What the executor trades in a bar: one ``Target`` per decision, the ``Trade`` planned for
it (orders and their journal rows), and the broker's ``OrderLog`` for one trade.

The rows a ``Trade`` holds are the journal's rows as the bar's second transaction will leave
them; ``TradeLog`` adds each answer to that transaction (``serving.execution.executor``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from serving.execution.events import OrderEvent
from serving.execution.intents import (
    HELD_ORDER_STATES,
    INTENT_VALUE_OF_ORDER,
    IntentState,
    PlannedOrder,
    intent_state_value,
    order_state_value,
)
from serving.execution.records import OrderRecord
from serving.execution.store import IntentJournal
from serving.journal import JournalWrites
from serving.ports import Broker


def planned_order(order: OrderRecord) -> PlannedOrder:
    """The order an ``intent_orders`` row describes."""
    return PlannedOrder(
        intent_id=order.intent_id,
        seq=int(order.seq),
        symbol=order.symbol,
        magic=int(order.magic),
        buy=order.side > 0,
        volume=float(order.volume),
        position=int(order.position),
        comment=order.comment,
    )


_INTENDED = IntentState.INTENDED.value


class IntentTotals(TypedDict):
    """The columns of an intent that its orders decide (``intent_totals``)."""

    state: str
    filled_volume: float
    remainder_volume: float


def intent_totals(orders: Iterable[OrderRecord]) -> IntentTotals:
    """An intent's state, filled lots and partial remainder from its order rows."""
    state, filled, undone = _totals(orders)
    return {"state": state, "filled_volume": filled, "remainder_volume": undone}


def intent_totals_of(rows: Mapping[str, OrderRecord]) -> tuple[str, float, float]:
    """``intent_totals`` of a trade's rows by key, as (state, filled, remainder): the
    executor's path, once per trade sent, which passes them on by position. Most intents
    have one order: its figures are the sums of one term, ``0 + term`` as ``sum`` adds."""
    if len(rows) != 1:
        return _totals(rows.values())
    (row,) = rows.values()
    state = row.state
    if state in HELD_ORDER_STATES:
        filled = round(0 + row.side * row.filled_volume, 8)
        undone = round(0 + row.side * row.volume - filled, 8)
    else:
        filled = undone = 0
    return INTENT_VALUE_OF_ORDER.get(state, _INTENDED), filled, undone


def _totals(orders: Iterable[OrderRecord]) -> tuple[str, float, float]:
    states: set[str] = set()
    held: list[OrderRecord] = []
    for order in orders:  # one pass: most intents have one order
        states.add(order.state)
        if order.state in HELD_ORDER_STATES:
            held.append(order)
    if held:
        filled = round(sum(order.side * order.filled_volume for order in held), 8)
        undone = round(sum(order.side * order.volume for order in held) - filled, 8)
    else:  # what the sums of nothing come to, without two generators
        filled = undone = 0
    return intent_state_value(states), filled, undone


@dataclass(frozen=True)
class Target:
    """One decision's target: bring ``broker``'s magic to ``volume`` lots in ``symbol``.

    ``bar_time`` (epoch seconds) is the decided bar, None for orders no bar decided (the
    tripped policy's).
    """

    broker: Broker
    symbol: str
    volume: float
    intent_id: str
    role: str
    bar_time: int | None = None


def decided_target(
    broker: Broker, symbol: str, volume: float, intent_id: str, role: str, bar_time: int
) -> Target:
    """``Target(broker, symbol, volume, intent_id, role, bar_time)`` by one dict update
    instead of the frozen ``__init__``'s ``object.__setattr__`` per field: the worker makes
    one per decision of a trading role. As frozen as one from ``__init__``."""
    target = object.__new__(Target)
    target.__dict__.update(
        broker=broker,
        symbol=symbol,
        volume=volume,
        intent_id=intent_id,
        role=role,
        bar_time=bar_time,
    )
    return target


@dataclass
class Trade:
    """A target whose orders are planned and journaled in the bar's first transaction.

    ``rows`` holds every order row of the intent by key, earlier attempts' included, as the
    journal will have them once the bar's second transaction commits. ``rejected`` is the
    event of a target whose symbol could not be read (nothing planned, nothing to send).
    """

    target: Target
    orders: list[PlannedOrder] = field(default_factory=list)
    rows: dict[str, OrderRecord] = field(default_factory=dict)
    rejected: OrderEvent | None = None


class TradeLog:
    """The broker's ``OrderLog`` for one planned trade: the rows are already committed as
    ``sent``; answers are added to the bar's second transaction (``writes``)."""

    def __init__(
        self,
        store: IntentJournal,
        trade: Trade,
        writes: JournalWrites,
        *,
        crash: Callable[[str], None],
        now: Callable[[], datetime],
    ) -> None:
        self.store, self.trade, self.writes = store, trade, writes
        self.crash, self.now = crash, now

    def next_seq(self, intent_id: str) -> int:
        return min(order.seq for order in self.trade.orders)

    def planned(self, orders: Sequence[PlannedOrder]) -> None:
        return None  # journaled before the send phase began

    def claimed(self, symbol: str, magic: int) -> frozenset[int]:
        return self.store.claimed(symbol, magic)

    def sending(
        self, order: PlannedOrder, request: Mapping[str, Any], sent_time: int, attempt: int
    ) -> None:
        # the committed row already says "maybe sent", from a time no later than this send
        self.crash("sent")

    def settled(self, order: PlannedOrder, event: OrderEvent) -> None:
        self.crash("answered")
        state = order_state_value(event)
        rows = self.trade.rows
        rows[order.key] = self.store.settle_order(
            self.writes,
            rows[order.key],
            self.now(),
            state,
            event.retcode,
            event.ticket,
            event.deal,
            event.volume if state in HELD_ORDER_STATES else 0.0,
            event.price,
            event.attempts,
            event.sent_time,
            event.matched_by or ("answer" if event.ticket else ""),
            event.request,
            event.message,
        )


def intent_fields(target: Target) -> dict[str, Any]:
    """A target's fixed columns in ``intents`` (worked out only for a target that writes
    its intent: most targets of a bar are already held and write none)."""
    bar_time = target.bar_time
    return {
        "role": target.role,
        "symbol": target.symbol,
        "magic": target.broker.magic,
        "target_volume": target.volume,
        "bar_time": None if bar_time is None else bar_datetime(bar_time),
    }


@functools.lru_cache(maxsize=256)
def bar_datetime(bar_time: int) -> datetime:
    """A bar's open time (epoch seconds) as a UTC datetime. Every decision and intent of a
    bar names the same few bar times, so each is converted once (a datetime is immutable;
    the cache holds the last few hundred, enough for every symbol of a bar)."""
    return datetime.fromtimestamp(bar_time, UTC)


def order_fields(order: PlannedOrder) -> dict[str, Any]:
    """An order's fixed columns in ``intent_orders``."""
    return {
        "intent_id": order.intent_id,
        "seq": order.seq,
        "symbol": order.symbol,
        "magic": order.magic,
        "side": order.sign,
        "volume": order.volume,
        "position": order.position,
        "comment": order.comment,
    }
