"""Risk controls the worker consults before every order.

A ``CircuitBreaker`` stops trading (decisions are still made and journaled) until a human
resets it; it trips on an operational outcome or on a burst of rejections, and takes a
clock so tests never sleep. ``PositionCap`` bounds the absolute lots any role may hold.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

logger = logging.getLogger(__name__)


class CircuitBreaker:
    """Trips once, stays tripped with its reason until ``reset()``.

    Args:
        now: the clock (``Clock.now``).
        max_rejections: rejections within ``window`` that trip it.
        window: the burst window.
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        max_rejections: int = 5,
        window: timedelta = timedelta(minutes=10),
    ) -> None:
        self._now, self.max_rejections, self.window = now, max_rejections, window
        self.reason: str | None = None
        self.tripped_at: datetime | None = None
        self._rejections: deque[datetime] = deque()

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def trip(self, reason: str) -> None:
        if not self.tripped:
            self.reason, self.tripped_at = reason, self._now()
            logger.error("circuit breaker tripped: %s", reason)

    def record_rejection(self, what: str) -> None:
        """Count a rejected order; trip when ``max_rejections`` fall within ``window``."""
        now = self._now()
        self._rejections.append(now)
        while self._rejections and now - self._rejections[0] > self.window:
            self._rejections.popleft()
        if len(self._rejections) >= self.max_rejections:
            self.trip(f"{len(self._rejections)} rejections within {self.window} (last: {what})")

    def reset(self) -> None:
        """A human decided trading may resume."""
        logger.warning("circuit breaker reset (was: %s)", self.reason)
        self.reason, self.tripped_at = None, None
        self._rejections.clear()


@dataclass(frozen=True)
class PositionCap:
    """The most lots (absolute, per symbol and role) a target may ask for."""

    max_volume: float

    def apply(self, target: float) -> float:
        return max(-self.max_volume, min(self.max_volume, target))
