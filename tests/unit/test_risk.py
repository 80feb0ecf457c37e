"""The breaker trips on an operational fault or a burst of rejections, and only a human resets it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from serving.risk import CircuitBreaker, PositionCap


class StepClock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


def test_breaker_trips_with_reason_and_stays_until_reset() -> None:
    clock = StepClock()
    breaker = CircuitBreaker(clock.now)
    breaker.trip("auto-trading disabled")
    breaker.trip("later reason")
    assert breaker.tripped and breaker.reason == "auto-trading disabled"
    assert breaker.tripped_at == clock.t
    breaker.reset()
    assert not breaker.tripped and breaker.reason is None


def test_rejections_trip_only_when_they_burst_within_the_window() -> None:
    clock = StepClock()
    breaker = CircuitBreaker(clock.now, max_rejections=3, window=timedelta(minutes=10))
    for _ in range(5):
        breaker.record_rejection("10014")
        clock.t += timedelta(minutes=6)
    assert not breaker.tripped
    breaker.record_rejection("10014")
    breaker.record_rejection("10014")
    assert breaker.tripped and "3 rejections" in (breaker.reason or "")


def test_position_cap_bounds_both_directions() -> None:
    cap = PositionCap(0.5)
    assert (cap.apply(0.7), cap.apply(-2.0), cap.apply(0.2)) == (0.5, -0.5, 0.2)
