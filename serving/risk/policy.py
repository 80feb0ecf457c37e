"""Risk decisions the worker consults before every order — pure functions of numbers.

- ``PositionCap`` bounds the absolute lots any role may hold.
- ``drift_scale`` shrinks the risk taken as the key feature's PSI rises towards the drift
  breaker's threshold: full size while the shift is insignificant (PSI ≤ 0.1, the usual
  "no change" band), nothing at the threshold (0.25), linear in between. The worker applies
  it to the confidence before ``models.sizing.size_from_confidence``, so the broker's volume
  grid and the budget cap stay that function's business.
- ``policy_target`` is what "tripped" does to a position already held: ``hold`` it, ``reduce``
  it (never grow, never flip: at most the new target's size on the same side, else flat), or
  ``close`` it. New positions are never opened while tripped, whatever the policy.

The breakers themselves live in ``serving.risk.breakers`` (``CircuitBreaker`` is re-exported here
for the code that imported it from this module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from models.sizing import drift_scale
from serving.risk.breakers import CircuitBreaker

__all__ = [
    "TRIPPED_POLICIES",
    "CircuitBreaker",
    "PositionCap",
    "TrippedPolicy",
    "drift_scale",
    "policy_target",
]

TrippedPolicy = Literal["hold", "reduce", "close"]
TRIPPED_POLICIES: tuple[str, ...] = get_args(TrippedPolicy)


@dataclass(frozen=True)
class PositionCap:
    """The most lots (absolute, per symbol and role) a target may ask for."""

    max_volume: float

    def apply(self, target: float) -> float:
        return max(-self.max_volume, min(self.max_volume, target))


def policy_target(current: float, target: float, policy: TrippedPolicy) -> float:
    """The signed lots to hold while tripped, given what is held and what the model wants.

    ``hold`` keeps ``current``; ``close`` goes flat; ``reduce`` keeps the smaller of the two
    sizes when they are on the same side and goes flat otherwise — it can only shrink risk.
    """
    if policy not in TRIPPED_POLICIES:
        raise ValueError(f"unknown tripped policy {policy!r}; expected one of {TRIPPED_POLICIES}")
    if policy == "hold":
        return current
    if policy == "close" or current * target <= 0:
        return 0.0
    return math.copysign(min(abs(current), abs(target)), current)
