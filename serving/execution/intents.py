"""Order intents and the orders sent for them: names, states and the journal hook protocol.

An *intent* is one decision to bring a (symbol, magic) position to a target: the worker's
``make_intent_id(version, role, symbol, bar_time)`` names it, so the same decision always has
the same id and a restarted worker re-deciding the same bar finds it already journaled. Reaching
the target takes one order on a netting account; on a hedging one, closes of the opposite
positions and then an open. Each order is keyed ``<intent_id>.<seq>`` and carries that key in
its comment. The comment is a *hint*: MT5 keeps at most 31 characters and brokers may rewrite
it, so reconciliation (``serving.execution.reconciler``) also matches by fingerprint and by ticket.

Order states, as the journal keeps them (``serving.execution.store``)::

    sent ─┬─ filled      one deal (or several of one order) for the whole volume
          ├─ partial     10010: a deal for part of it; the remainder was cancelled (IOC) and is
          │              left to the next intent (the next bar's rebalance sees the gap)
          ├─ pending     10008 placed: followed by ticket until its deal (or its cancellation)
          ├─ rejected    the server answered "not placed" (rejected, requote/throttle exhausted,
          │              operational), or a placed order was cancelled without a deal
          ├─ absent      no clear answer, then *proven absent* (see ``serving.execution.reconciler``)
          ├─ unknown     no clear answer and not provable either way: blocks its (symbol, magic)
          └─ adopted     an operator accepted the terminal's state instead (never counted)

``sent`` is written and committed *before* ``order_send``; a row still ``sent`` after a crash
means "maybe sent" and is reconciled at start-up, never resent blindly.

Intent states: ``intended`` (written once its orders are planned, before the first is sent;
a target already held writes no intent row), then the aggregate of its orders (``unknown``,
``sent``, ``pending``, ``partial``, ``filled``, ``rejected``, ``absent``, the first that any
order is in); or ``abandoned`` (a restart found it intended without an order row), ``blocked``
(an earlier order of its (symbol, magic) was unresolved: nothing sent), ``refused`` (start-up
reconciliation disagreed: nothing sent), ``adopted`` (an operator's adoption, see
``serving.execution.startup``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

from serving.execution.events import OrderEvent
from serving.execution.outcomes import Outcome


class OrderState(StrEnum):
    SENT = "sent"
    FILLED = "filled"
    PARTIAL = "partial"
    PENDING = "pending"
    REJECTED = "rejected"
    ABSENT = "absent"
    UNKNOWN = "unknown"
    ADOPTED = "adopted"


OPEN_ORDER_STATES = frozenset({OrderState.SENT, OrderState.PENDING, OrderState.UNKNOWN})
"""States that need the terminal's word before anything else trades that (symbol, magic)."""

HELD_ORDER_STATES = frozenset({OrderState.FILLED, OrderState.PARTIAL})
"""States whose ``filled_volume`` the journal counts as held (pending counts its volume)."""


class IntentState(StrEnum):
    INTENDED = "intended"  # written, nothing sent yet
    SENT = "sent"  # orders sent, at least one still open
    FILLED = "filled"
    PARTIAL = "partial"
    PENDING = "pending"
    REJECTED = "rejected"
    ABSENT = "absent"
    UNKNOWN = "unknown"
    ABANDONED = "abandoned"  # a restart found it intended and never sent
    BLOCKED = "blocked"  # an earlier order of the (symbol, magic) is still unresolved
    REFUSED = "refused"  # start-up reconciliation disagrees: no trading
    ADOPTED = "adopted"  # an operator's adoption of the terminal's state


_COMMENT = re.compile(r"t[\w-]{1,24}\.\d{1,3}")


def order_comment(intent_id: str, seq: int) -> str:
    """The comment hint for an intent's ``seq``-th order, at most 31 characters."""
    return f"t{intent_id[:24]}.{seq}"[:31]


def looks_like_ours(comment: str) -> bool:
    """Whether a comment has our ``t<intent>.<seq>`` shape (a deal of *another* of our
    orders, when it is not this order's); rewritten or empty comments do not."""
    return _COMMENT.fullmatch(comment) is not None


@dataclass(frozen=True)
class PlannedOrder:
    """One market order an intent sends.

    Attributes:
        intent_id: the intent it serves.
        seq: its number within the intent (a re-execution continues the numbering).
        symbol, magic: where and for whom.
        buy: side.
        volume: lots, already on the symbol's step.
        position: ticket of the hedging position it closes, 0 when it opens or nets.
        comment: ``order_comment(intent_id, seq)``.
    """

    intent_id: str
    seq: int
    symbol: str
    magic: int
    buy: bool
    volume: float
    position: int
    comment: str

    @cached_property
    def key(self) -> str:
        """``<intent_id>.<seq>``: read several times per order on the decision path, so
        worked out once (the fields it is made of are frozen)."""
        return f"{self.intent_id}.{self.seq}"

    @property
    def sign(self) -> int:
        return 1 if self.buy else -1


def planned(
    intent_id: str, seq: int, symbol: str, magic: int, buy: bool, volume: float, position: int
) -> PlannedOrder:
    """``PlannedOrder(…, order_comment(intent_id, seq))`` by one dict update instead of the
    frozen ``__init__``'s ``object.__setattr__`` per field: the broker plans one per order
    sent. As frozen as one from ``__init__``; its ``key`` is put where ``cached_property``
    keeps it (the instance's dict), without the property's first, locked, call."""
    order = object.__new__(PlannedOrder)
    order.__dict__.update(
        intent_id=intent_id,
        seq=seq,
        symbol=symbol,
        magic=magic,
        buy=buy,
        volume=volume,
        position=position,
        comment=order_comment(intent_id, seq),
        key=f"{intent_id}.{seq}",
    )
    return order


def order_state_of(event: OrderEvent) -> OrderState:
    """The journal state of an order after the broker's last word on it."""
    return OrderState(order_state_value(event))


_STATE_OF_OUTCOME = {
    Outcome.FILLED: OrderState.FILLED.value,
    Outcome.PENDING: OrderState.PENDING.value,
    Outcome.UNKNOWN: OrderState.UNKNOWN.value,
}
"""An answered order's state by its outcome (a 10010 fill is partial; the rest rejected)."""
_ABSENT, _PARTIAL = OrderState.ABSENT.value, OrderState.PARTIAL.value
_REJECTED = OrderState.REJECTED.value
_FILLED = Outcome.FILLED


def order_state_value(event: OrderEvent) -> str:
    """``order_state_of(event).value``, by look-up in plain strings: asked once per order
    sent, where an enum's attributes and ``.value`` would each cost a Python call."""
    if event.proven_absent:
        return _ABSENT
    outcome = event.outcome
    if outcome is _FILLED and event.partial:
        return _PARTIAL
    return _STATE_OF_OUTCOME.get(outcome, _REJECTED)


_INTENT_OF_ORDERS: tuple[tuple[str, IntentState], ...] = (
    (OrderState.UNKNOWN.value, IntentState.UNKNOWN),
    (OrderState.SENT.value, IntentState.SENT),
    (OrderState.PENDING.value, IntentState.PENDING),
    (OrderState.PARTIAL.value, IntentState.PARTIAL),
    (OrderState.FILLED.value, IntentState.FILLED),
    (OrderState.REJECTED.value, IntentState.REJECTED),
    (OrderState.ABSENT.value, IntentState.ABSENT),
    (OrderState.ADOPTED.value, IntentState.ADOPTED),
)
"""An intent's state by the first of these its orders are in: open ones first, then what
reached the book (plain strings: built once, not per call)."""

_INTENT_VALUE_OF_ORDERS = tuple((order, intent.value) for order, intent in _INTENT_OF_ORDERS)
INTENT_VALUE_OF_ORDER = dict(_INTENT_VALUE_OF_ORDERS)
"""The state value of an intent whose orders are all in one state (absent: ``intended``)."""
_INTENDED = IntentState.INTENDED.value


def intent_state_value(order_states: Iterable[str]) -> str:
    """``intent_state_of(order_states).value``, from plain strings: an enum's ``.value``
    is a Python-level property call, and the executor asks once per trade sent."""
    states = set(order_states)
    for order_state, intent in _INTENT_VALUE_OF_ORDERS:
        if order_state in states:
            return intent
    return _INTENDED


_REACHED_STATES = frozenset(
    state.value
    for state in (
        OrderState.FILLED,
        OrderState.PARTIAL,
        OrderState.PENDING,
        OrderState.UNKNOWN,
        OrderState.SENT,
    )
)
"""Order states that may have made (or still make) a deal."""


def intent_state_of(order_states: Iterable[str]) -> IntentState:
    """An intent's state from its orders': open ones first, then what reached the book."""
    states = set(order_states)
    for order_state, intent in _INTENT_OF_ORDERS:
        if order_state in states:
            return intent
    return IntentState.INTENDED


def reached_terminal(order_states: Iterable[str]) -> bool:
    """Whether any of an intent's orders may have made (or still make) a deal: then the
    intent is never executed again under the same id."""
    return not _REACHED_STATES.isdisjoint(order_states)


class OrderLog(Protocol):
    """What the broker tells the journal about each order (``serving.execution.executor`` writes it).

    ``planned`` is called once the orders are known (none: already at target) and before the
    first is sent; ``sending`` before every ``order_send``; both must be durable when they
    return. ``settled`` once the broker has its last word on the order. Nothing is journaled
    in between, so a crash after ``order_send`` returns is a crash "between send and journal".
    """

    def next_seq(self, intent_id: str) -> int: ...

    def planned(self, orders: Sequence[PlannedOrder]) -> None: ...

    def claimed(self, symbol: str, magic: int) -> frozenset[int]: ...

    def sending(
        self, order: PlannedOrder, request: Mapping[str, Any], sent_time: int, attempt: int
    ) -> None: ...

    def settled(self, order: PlannedOrder, event: OrderEvent) -> None: ...


class NoOrderLog:
    """The broker on its own (tests, tools): nothing is journaled, numbering starts at 0."""

    def next_seq(self, intent_id: str) -> int:
        return 0

    def planned(self, orders: Sequence[PlannedOrder]) -> None:
        return None

    def claimed(self, symbol: str, magic: int) -> frozenset[int]:
        return frozenset()

    def sending(
        self, order: PlannedOrder, request: Mapping[str, Any], sent_time: int, attempt: int
    ) -> None:
        return None

    def settled(self, order: PlannedOrder, event: OrderEvent) -> None:
        return None
