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

    def now(self) -> datetime:
        return datetime.fromtimestamp(int(self.terminal.now), tz=UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
