"""The replay's clock tells the terminal's time, as a UTC datetime, however often it is asked."""

from __future__ import annotations

from datetime import UTC, datetime

from serving.clocks import ReplayClock


class StandingTerminal:
    """A replay terminal reduced to its clock: ``now`` in epoch seconds, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def advance(self) -> bool:
        return True


def test_the_clock_follows_the_terminal_through_bars_and_back() -> None:
    terminal = StandingTerminal(1_700_000_000.0)
    clock = ReplayClock(terminal)  # type: ignore[arg-type]
    first = clock.now()
    assert first == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert clock.now() == first and clock.now().tzinfo is UTC
    for seconds in (1_700_003_600.9, 1_700_003_600.0, 1_700_000_000.0, 1_700_007_200.0):
        terminal.now = seconds  # the next bar, a fraction of its second, a rewound replay
        assert clock.now() == datetime.fromtimestamp(int(seconds), tz=UTC)
