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
        self._last: tuple[int, datetime] | None = None  # the terminal's time and its datetime

    def now(self) -> datetime:
        """The replay's time. Asked a few times per order while the replay's time stands on
        one bar, so the datetime of the last second asked is kept; it is made again only when
        the terminal's time moves (a datetime is immutable: sharing it is safe)."""
        seconds = int(self.terminal.now)
        last = self._last
        if last is None or last[0] != seconds:
            last = self._last = (seconds, datetime.fromtimestamp(seconds, tz=UTC))
        return last[1]

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
