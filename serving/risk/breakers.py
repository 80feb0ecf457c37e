"""Circuit breakers: one shape — a name, a clock, a reason, a journal entry and a gauge.

A breaker trips with a reason and stays tripped until a person resets it by name. A restart
is not a reset: the worker replays the journal's ``breaker_events`` into its breakers at
start-up. While any breaker is tripped the worker opens no new position; what happens to the
positions already held is the tripped policy's business (``serving.risk.policy``).

Breakers do no I/O and read no wall clock: the worker feeds them what it measured and the
``BreakerBoard`` hands every trip and reset to one listener (the worker journals it), so
tests drive them with a fake clock. The kinds that need more than a few lines live in their
own modules (``drift_breaker``, ``stale_bars``, ``daily_loss``).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from models.slo import LATENCY_SLO_SECONDS, LATENCY_SLO_TARGET

logger = logging.getLogger(__name__)
_TRIPPED: Callable[[Breaker], bool] = attrgetter("tripped")

Now = Callable[[], datetime]
"""The clock a breaker reads (``Clock.now``)."""

WORKER = "worker"
"""``by`` of the events the worker itself causes."""


class BreakerEvent(NamedTuple):
    """One row of the journal's ``breaker_events``.

    ``event`` is ``trip``, ``reset``, ``reset_requested`` (an operator's request, applied by
    the worker), ``baseline`` (the daily-loss breaker's start-of-day figure, in ``value``) or
    ``policy`` (orders a tripped policy sent, under ``intent_id``).
    """

    breaker: str
    event: str
    reason: str
    at: datetime
    by: str = WORKER
    value: float | None = None
    intent_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BreakerEvent:
        """An event from a journal row (a ``read_breaker_events`` record)."""
        at, value, intent = row["at"], row.get("value"), row.get("intent_id")
        return cls(
            breaker=str(row["breaker"]),
            event=str(row["event"]),
            reason=str(row["reason"]),
            at=at.to_pydatetime() if hasattr(at, "to_pydatetime") else at,
            by=str(row["by"]),
            value=None if value is None or value != value else float(value),
            intent_id=intent if isinstance(intent, str) and intent else None,
        )


Listener = Callable[[BreakerEvent], None]


class Breaker:
    """Trips once with a reason and stays tripped until ``reset(by)``.

    Subclasses add an ``observe``-style method that decides when to ``trip``; this base keeps
    the state, stamps events with the clock and hands them to the board's listener.
    """

    def __init__(self, name: str, now: Now) -> None:
        self.name, self._now = name, now
        self._reason: str | None = None
        self.tripped = False  # kept by ``reason``'s setter: read ~10 times per decision
        self.tripped_at: datetime | None = None
        self.listener: Listener | None = None

    @property
    def reason(self) -> str | None:
        """Why it tripped; None while it is not tripped."""
        return self._reason

    @reason.setter
    def reason(self, reason: str | None) -> None:
        # ``tripped`` is a plain attribute, not a property over the reason: the board asks
        # every breaker for every decision and order, and only this setter changes the answer
        self._reason, self.tripped = reason, reason is not None

    def trip(self, reason: str) -> bool:
        """Trip with ``reason``; a second trip keeps the first reason. True if it just tripped."""
        if self.tripped:
            return False
        self.reason, self.tripped_at = reason, self._now()
        logger.error("circuit breaker %s tripped: %s", self.name, reason)
        self.emit("trip", reason)
        return True

    def reset(self, by: str) -> bool:
        """A person (``by``) decided trading may resume. True if it was tripped."""
        if not self.tripped:
            return False
        was = self.reason
        self.reason, self.tripped_at = None, None
        self._clear()
        logger.warning("circuit breaker %s reset by %s (was: %s)", self.name, by, was)
        self.emit("reset", f"was: {was}", by=by)
        return True

    def replay(self, event: BreakerEvent) -> None:
        """Rebuild state from one journaled event, silently (nothing is journaled again)."""
        if event.event == "trip":
            self.reason, self.tripped_at = event.reason, event.at
        elif event.event == "reset":
            self.reason, self.tripped_at = None, None

    def emit(self, event: str, reason: str, *, by: str = WORKER, **extra: Any) -> None:
        if self.listener is not None:
            self.listener(BreakerEvent(self.name, event, reason, self._now(), by, **extra))

    def _clear(self) -> None:
        """Forget what led to the trip (counters, windows) when reset."""


class CircuitBreaker(Breaker):
    """Order errors: trips at once on an operational outcome (the worker calls ``trip``) and
    on a burst of rejections — ``max_rejections`` within ``window``."""

    def __init__(
        self,
        now: Now,
        *,
        max_rejections: int = 5,
        window: timedelta = timedelta(minutes=10),
        name: str = "order_errors",
    ) -> None:
        super().__init__(name, now)
        self.max_rejections, self.window = max_rejections, window
        self._rejections: deque[datetime] = deque()

    def record_rejection(self, what: str) -> None:
        """Count a rejected order; trip when ``max_rejections`` fall within ``window``."""
        now = self._now()
        self._rejections.append(now)
        while self._rejections and now - self._rejections[0] > self.window:
            self._rejections.popleft()
        if len(self._rejections) >= self.max_rejections:
            self.trip(f"{len(self._rejections)} rejections within {self.window} (last: {what})")

    def _clear(self) -> None:
        self._rejections.clear()


class HaltedBreaker(Breaker):
    """The registered model carries the ``halted`` tag (a flow or a person in the MLflow UI).

    Trips while the model source reports a halt reason. Removing the tag does not resume
    trading — reset is explicit; a reset while the tag is still set trips again on the next
    observation.
    """

    def __init__(self, now: Now, *, name: str = "halted") -> None:
        super().__init__(name, now)

    def observe(self, halted: str | None) -> None:
        if halted:
            self.trip(halted)


class LatencyBreaker(Breaker):
    """Decision latency: trips when the ``quantile`` of the last ``window`` decisions' latency
    exceeds ``slo_seconds`` (once ``min_samples`` were seen, so one slow start does not)."""

    def __init__(
        self,
        now: Now,
        *,
        slo_seconds: float = LATENCY_SLO_SECONDS,
        quantile: float = LATENCY_SLO_TARGET,
        window: int = 200,
        min_samples: int = 50,
        name: str = "latency",
    ) -> None:
        super().__init__(name, now)
        self.slo_seconds, self.quantile, self.min_samples = slo_seconds, quantile, min_samples
        self._latencies: deque[float] = deque(maxlen=window)
        self._over = 0  # samples in the window above the SLO
        self._needed = (0, 0)  # (n, samples over the SLO the quantile needs among n)

    def observe(self, seconds: float) -> None:
        """Record one decision's latency; on the hot path, so the quantile is computed only
        when enough samples exceed the SLO for it possibly to exceed it too."""
        window = self._latencies
        if len(window) == window.maxlen and window[0] > self.slo_seconds:
            self._over -= 1
        window.append(seconds)
        self._over += seconds > self.slo_seconds
        n = len(window)
        if n < self.min_samples:
            return
        # np.quantile (linear) can exceed the SLO only if its upper neighbour, sorted index
        # ceil((n-1)q), does: that needs n - ceil((n-1)q) samples over it (one spare for
        # rounding); worked out again only when n moves (a full window keeps it)
        if n != self._needed[0]:
            self._needed = (n, n - math.ceil((n - 1) * self.quantile) - 1)
        if self._over < self._needed[1]:
            return
        q = float(np.quantile(np.fromiter(window, float), self.quantile))
        if q > self.slo_seconds:
            self.trip(
                f"p{self.quantile * 100:g} decision latency {q * 1000:.1f} ms over the last "
                f"{len(self._latencies)} decisions > SLO {self.slo_seconds * 1000:.1f} ms"
            )

    def _clear(self) -> None:
        self._latencies.clear()
        self._over = 0


class BreakerBoard:
    """The worker's breakers by name: any tripped stops new positions; resets go by name.

    Args:
        breakers: each with a unique ``name``.
        listener: receives every event the breakers emit (the worker journals them).
    """

    def __init__(self, breakers: Iterable[Breaker], listener: Listener | None = None) -> None:
        self._breakers: dict[str, Breaker] = {}
        for breaker in breakers:
            if breaker.name in self._breakers:
                raise ValueError(f"two breakers named {breaker.name!r}")
            breaker.listener = listener
            self._breakers[breaker.name] = breaker
        self._all = tuple(self._breakers.values())  # the board's breakers never change

    def __getitem__(self, name: str) -> Breaker:
        try:
            return self._breakers[name]
        except KeyError:
            raise KeyError(f"no breaker {name!r}; known: {sorted(self._breakers)}") from None

    def __iter__(self) -> Iterator[Breaker]:
        return iter(self._breakers.values())

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    @property
    def tripped(self) -> bool:
        """Whether any breaker is tripped (asked for every decision and every order: ``map``
        of an attrgetter over plain attributes, no generator or property frame)."""
        return any(map(_TRIPPED, self._all))

    def reasons(self) -> dict[str, str]:
        """Why each tripped breaker tripped."""
        return {b.name: b.reason for b in self if b.reason is not None}

    def states(self) -> dict[str, bool]:
        return {b.name: b.tripped for b in self}

    def reset(self, name: str, by: str) -> bool:
        """Reset one breaker by name on behalf of ``by``; True if it was tripped."""
        return self[name].reset(by)

    def restore(self, events: Iterable[BreakerEvent]) -> None:
        """Rebuild every breaker from the journal's history, oldest first.

        Trips and resets replay silently; a reset request still pending at the end (no reset
        after it) is applied now, so it is journaled once, by the worker.
        """
        pending: dict[str, BreakerEvent] = {}
        for event in events:
            breaker = self._breakers.get(event.breaker)
            if breaker is None:
                continue
            if event.event == "reset_requested":
                pending[event.breaker] = event
                continue
            if event.event in ("trip", "reset"):
                pending.pop(event.breaker, None)
            breaker.replay(event)
        for name, request in pending.items():
            self._breakers[name].reset(request.by)

    def apply_requests(self, events: Iterable[BreakerEvent]) -> None:
        """Apply operators' reset requests that arrived while running."""
        for event in events:
            if event.event != "reset_requested":
                continue
            if event.breaker not in self._breakers:
                logger.warning("reset requested for unknown breaker %r; ignored", event.breaker)
                continue
            self._breakers[event.breaker].reset(event.by)
