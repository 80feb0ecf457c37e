"""The worker's clocks: the ``Clock`` port and its two adapters.

Breakers, the broker's event stamps and the worker's pacing all read time through a clock, so
a replay runs on the replay's time and tests never sleep.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from serving.mt5.terminal import ReplayTerminal


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time, for a live terminal."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ReplayClock:
    """The replay's time (the forming bar's open); ``sleep`` paces a replay in wall time."""

    def __init__(self, terminal: ReplayTerminal) -> None:
        self.terminal = terminal
        self._seconds: int | None = None  # the terminal's time last asked
        self._at = datetime.fromtimestamp(0, tz=UTC)  # ... as a datetime

    def now(self) -> datetime:
        """The replay's time. Asked a few times per order while the replay's time stands on
        one bar, so the datetime of the last second asked is kept; it is made again only when
        the terminal's time moves (a datetime is immutable: sharing it is safe)."""
        seconds = int(self.terminal.now)
        if seconds != self._seconds:
            self._seconds, self._at = seconds, datetime.fromtimestamp(seconds, tz=UTC)
        return self._at

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
