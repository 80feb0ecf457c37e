"""Service-level objectives and their error budgets, from journal rows or event counts.

Two SLOs (DESIGN, issue 11 §3), both as "good events / all events" so the journal, the
worker's counters and Prometheus' recording rules compute the same thing:

- **order execution**: a sent order is good when it ends filled (or partly filled), placed
  (pending), or as a documented non-error of ``serving.execution.outcomes``: a requote or a
  throttle the broker retried within its bounds and left to the next bar. Unknown (unresolved
  or proven absent), rejected and operational outcomes are bad. Target 99.9 %.
- **decision latency**: "p95 < 200 ms" is "95 % of decisions take at most 200 ms"; a
  decision is good when its latency is at or under the threshold. Target 95 %.

The error budget is the share of bad events the target allows; ``remaining`` is the part of
it not yet used (1: untouched, 0 or less: spent). No events spend nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

LATENCY_SLO_SECONDS = 0.2
"""The decision-latency threshold operators asked for; the latency breaker, the worker's SLO
counters and the gate all default to it (``TATE_LATENCY_SLO_SECONDS`` sets it for all)."""
LATENCY_SLO_TARGET = 0.95
"""Share of decisions that must be within the threshold: "p95 < 200 ms"."""
EXECUTION_SLO_TARGET = 0.999

GOOD_OUTCOMES = frozenset({"filled", "pending", "requote", "throttled"})
"""Outcomes (``serving.execution.outcomes.Outcome`` values) that count as executed."""


def order_state_is_good(state: str) -> bool:
    """A journaled order state (``filled``, ``partial_reconciled``, ``absent``…) is good."""
    base = state.removesuffix("_reconciled")
    return base == "partial" or base in GOOD_OUTCOMES


@dataclass(frozen=True)
class BudgetStatus:
    """One SLO over a window: events, the target and what is left of its error budget."""

    name: str
    good: int
    total: int
    target: float

    @property
    def bad(self) -> int:
        return self.total - self.good

    @property
    def remaining(self) -> float:
        """1 − bad / allowed bad; 1 with no events, ≤ 0 once spent."""
        if self.total == 0:
            return 1.0
        return 1.0 - self.bad / (self.total * (1.0 - self.target))

    @property
    def spent(self) -> bool:
        return self.remaining <= 1e-9  # (1 − target) is not exact in binary: 0.05 × 100 ≠ 5

    def describe(self) -> str:
        return (
            f"{self.name}: {self.bad} bad of {self.total} (target {self.target:.4%} good), "
            f"budget remaining {self.remaining:.1%}"
        )


def execution_budget(states: Iterable[str], target: float, name: str = "execution") -> BudgetStatus:
    """The order-execution SLO over journaled order states."""
    flags = [order_state_is_good(s) for s in states]
    return BudgetStatus(name, sum(flags), len(flags), target)


def latency_budget(
    latencies: ArrayLike, threshold_seconds: float, target: float, name: str = "latency"
) -> BudgetStatus:
    """The decision-latency SLO over journaled latencies (NaN: not measured, not counted)."""
    values = np.asarray(latencies, dtype=np.float64)
    values = values[~np.isnan(values)]
    good = int((values <= threshold_seconds).sum())
    return BudgetStatus(name, good, len(values), target)
