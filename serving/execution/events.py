"""What one order came to (``OrderEvent``) and the request rules every order obeys.

Kept apart from the adapter (``serving.execution.broker``) so the journal side (``serving.execution.executor``,
``serving.execution.intents``) can read an event without importing the code that sends orders.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from serving.execution.outcomes import Outcome
from serving.mt5 import constants as mt5


@dataclass(frozen=True)
class OrderEvent:
    """One order's fate, as the journal records it.

    ``state`` is what the order events table stores: the outcome, ``<outcome>_reconciled``
    when an unknown answer was resolved by looking in the terminal, ``absent`` when it was
    proven absent and not resent, ``partial`` for a 10010 fill of part of the volume.
    """

    intent_id: str
    symbol: str
    magic: int
    comment: str
    outcome: Outcome
    retcode: int | None
    ticket: int = 0
    deal: int = 0
    price: float = 0.0
    volume: float = 0.0
    requested_price: float = 0.0
    slippage_points: float = 0.0
    latency_seconds: float = 0.0
    attempts: int = 0
    reconciled: bool = False
    message: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    order_key: str = ""
    requested_volume: float = 0.0
    sent_time: int = 0  # the terminal's time at the last order_send, 0 if never sent
    proven_absent: bool = False
    matched_by: str = ""  # how a reconciled order was found: ticket, comment, fingerprint…

    @property
    def partial(self) -> bool:
        return bool(
            self.outcome is _FILLED
            and self.requested_volume
            and self.volume < self.requested_volume - 1e-9
        )

    @property
    def state(self) -> str:
        if self.proven_absent:
            return "absent"
        base = "partial" if self.partial else OUTCOME_VALUES[self.outcome]
        return f"{base}_reconciled" if self.reconciled else base


_FILLED = Outcome.FILLED  # a module name: an enum class's attribute costs a Python call
OUTCOME_VALUES = {outcome: outcome.value for outcome in Outcome}
"""Each outcome's ``.value``, by look-up: the property is a Python call, asked per order."""


_EVENT_FIELDS = frozenset(f.name for f in fields(OrderEvent))
_EVENT_DEFAULTS = {f.name: f.default for f in fields(OrderEvent) if f.default is not MISSING}


def order_event(**values: Any) -> OrderEvent:
    """``OrderEvent(**values)``, built the way the broker's every answer needs it: one dict
    update instead of the frozen ``__init__``'s ``object.__setattr__`` per field (a fifth of
    the cost, for 23 fields). Omitted fields take their defaults (``request`` a new dict,
    ``at`` now); the event is as frozen as one from ``__init__``.

    Raises:
        TypeError: a name is not a field, or a field without a default is missing.
    """
    event = object.__new__(OrderEvent)
    state = {**_EVENT_DEFAULTS, **values}
    if "request" not in state:
        state["request"] = {}
    if "at" not in state:
        state["at"] = datetime.now(UTC)
    if len(state) != len(_EVENT_FIELDS) or not _EVENT_FIELDS.issuperset(state):
        unknown = sorted(set(state) - _EVENT_FIELDS)
        missing = sorted(_EVENT_FIELDS - set(state))
        raise TypeError(f"OrderEvent: unknown fields {unknown}, missing {missing}")
    event.__dict__.update(state)
    return event


def choose_filling(filling_mode: int) -> int:
    """FOK when the symbol allows it, else IOC, else RETURN (MQL5 CTrade's rule)."""
    if filling_mode & mt5.SYMBOL_FILLING_FOK:
        return mt5.ORDER_FILLING_FOK
    if filling_mode & mt5.SYMBOL_FILLING_IOC:
        return mt5.ORDER_FILLING_IOC
    return mt5.ORDER_FILLING_RETURN


def round_volume(volume: float, step: float, vmin: float, vmax: float) -> float:
    """Signed volume rounded to the step, 0 below the minimum, clamped to the maximum."""
    size = round(round(abs(volume) / step) * step, 8)
    if vmax < size:  # min(size, vmax), without its call: asked at least once per decision
        size = vmax
    return 0.0 if size < vmin - 1e-9 else math.copysign(size, volume)


def slippage_points(buy: bool, requested: float, filled: float, point: float) -> float:
    """Adverse slippage in points (positive = paid more / received less than quoted)."""
    if not filled:
        return 0.0
    return round(((filled - requested) if buy else (requested - filled)) / point, 3)
