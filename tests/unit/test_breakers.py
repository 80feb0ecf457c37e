"""Each breaker trips with its reason on a fake clock, stays tripped, and only a reset clears it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.drift import psi
from serving.risk.breakers import (
    BreakerBoard,
    BreakerEvent,
    CircuitBreaker,
    HaltedBreaker,
    LatencyBreaker,
)
from serving.risk.daily_loss import DailyLossBreaker, day_start, trading_day
from serving.risk.drift import DriftBreaker, ReferenceBins, compress_reference, numpy_sum
from serving.risk.stale_bars import StaleBarBreaker

HOUR = timedelta(hours=1)


class StepClock:
    def __init__(self, t: datetime = datetime(2024, 1, 2, 9, tzinfo=UTC)) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def _recorded(breaker_events: list[BreakerEvent], event: str) -> list[BreakerEvent]:
    return [e for e in breaker_events if e.event == event]


def test_a_trip_keeps_its_first_reason_and_time_until_reset_by_someone() -> None:
    clock, events = StepClock(), []
    breaker = CircuitBreaker(clock.now)
    BreakerBoard([breaker], events.append)
    breaker.trip("auto-trading disabled")
    clock.t += HOUR
    breaker.trip("later reason")
    assert breaker.tripped and breaker.reason == "auto-trading disabled"
    assert breaker.tripped_at == clock.t - HOUR
    assert breaker.reset(by="alice") and not breaker.tripped and breaker.reason is None
    assert not breaker.reset(by="alice")  # nothing to reset: nothing journaled
    assert [(e.event, e.by) for e in events] == [("trip", "worker"), ("reset", "alice")]
    assert events[1].reason == "was: auto-trading disabled" and events[1].at == clock.t


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


def test_halted_tag_trips_and_removing_the_tag_does_not_reset() -> None:
    clock = StepClock()
    halted = HaltedBreaker(clock.now)
    halted.observe(None)
    assert not halted.tripped
    halted.observe("registered model tagged halted: drift report")
    assert halted.reason == "registered model tagged halted: drift report"
    halted.observe(None)
    assert halted.tripped
    halted.reset(by="bob")
    halted.observe("registered model tagged halted: still")  # reset while tagged: trips again
    assert halted.tripped


def test_latency_breaker_trips_when_p99_of_the_window_passes_the_slo() -> None:
    clock = StepClock()
    latency = LatencyBreaker(clock.now, slo_seconds=0.1, quantile=0.99, window=100, min_samples=50)
    for _ in range(200):
        latency.observe(0.002)
    for _ in range(3):  # 3 % of the window is slow: the p99 is
        latency.observe(0.5)
    assert latency.tripped
    assert "p99 decision latency" in (latency.reason or "") and "SLO 100.0 ms" in latency.reason


def test_latency_breaker_defaults_to_the_slo_p95_under_200_ms() -> None:
    clock = StepClock()
    calm, slow = LatencyBreaker(clock.now), LatencyBreaker(clock.now)
    for k in range(200):  # 4 % over 0.2 s: within the SLO; 6 %: the p95 is over it
        calm.observe(0.25 if k % 25 == 24 else 0.19)
        slow.observe(0.25 if k % 50 in (47, 48, 49) else 0.19)
    assert not calm.tripped
    assert slow.tripped and "p95 decision latency" in (slow.reason or "")
    assert "SLO 200.0 ms" in (slow.reason or "")


def test_latency_breaker_waits_for_min_samples_and_ignores_a_lone_slow_decision() -> None:
    clock = StepClock()
    latency = LatencyBreaker(clock.now, slo_seconds=0.1, window=200, min_samples=50)
    for _ in range(49):
        latency.observe(1.0)
    assert not latency.tripped  # too few to judge
    fresh = LatencyBreaker(clock.now, slo_seconds=0.1, window=200, min_samples=50)
    for k in range(1_000):
        fresh.observe(1.0 if k % 500 == 250 else 0.002)
    assert not fresh.tripped


def test_drift_breaker_trips_on_a_shifted_feature_against_its_reference() -> None:
    rng = np.random.default_rng(1)
    clock = StepClock()
    drift = DriftBreaker(
        clock.now, feature="ret_1", reference=rng.normal(0, 1, 50_000), window=300,
        min_samples=200,
    )  # fmt: skip
    for value in rng.normal(0, 1, 300):
        drift.observe(value)
    assert drift.evaluate() < 0.1 and not drift.tripped
    for value in rng.normal(1.5, 1, 300):
        drift.observe(value)
    assert drift.evaluate() > 0.25 and drift.tripped
    assert (drift.reason or "").startswith("PSI of ret_1 = ")


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(st.floats(-5, 5), min_size=1, max_size=300),
    current=st.lists(st.floats(-6, 6) | st.just(float("nan")), max_size=200),
    bins=st.integers(2, 12),
    step=st.sampled_from([0.0, 0.5, 1.0]),
    full=st.booleans(),
)
def test_the_breakers_kept_reference_bins_score_exactly_what_psi_scores(
    reference: list[float], current: list[float], bins: int, step: float, full: bool
) -> None:
    """Coarse grids (``step``) make ties and collapsed decile edges common; ``full``: the
    window is the breaker's full window, scored from the terms worked out in advance."""
    ref = np.asarray(reference) if step == 0 else np.round(np.asarray(reference) / step) * step
    kept = compress_reference(ref)
    window = np.asarray(current, dtype=np.float64)
    expected = psi(kept, window, bins=bins)
    size = int(np.isfinite(window).sum()) if full else None
    score = ReferenceBins(kept, bins, size).score(window)
    assert score == expected or (np.isnan(score) and np.isnan(expected))


@settings(max_examples=60, deadline=None)
@given(
    reference=st.none() | st.lists(st.floats(-3, 3), min_size=20, max_size=200),
    values=st.lists(st.floats(-4, 4) | st.just(float("nan")), min_size=50, max_size=160),
    window=st.integers(3, 25),
    step=st.sampled_from([0.0, 0.5]),
    reset_at=st.integers(0, 160),
)
def test_the_drift_window_kept_per_bin_scores_what_psi_scores_of_its_last_values(
    reference: list[float] | None,
    values: list[float],
    window: int,
    step: float,
    reset_at: int,
) -> None:
    """Bins counted as values arrive and leave (rolling past the window, a warm-up reference,
    a reset) score exactly ``psi`` of the reference and the window's last values."""

    def grid(xs: list[float]) -> list[float]:
        return xs if step == 0 else [float(np.round(x / step) * step) for x in xs]

    clock = StepClock()
    drift = DriftBreaker(
        clock.now, reference=None if reference is None else grid(reference), window=window,
        min_samples=2, threshold=float("inf"),
    )  # fmt: skip
    ref = None if reference is None else compress_reference(grid(reference))
    seen: list[float] = []  # finite values since the window last started over
    for k, value in enumerate(grid(values)):
        if k == reset_at:
            drift.trip("test")
            drift.reset("tester")
            seen = []
        drift.observe(value)
        if np.isfinite(value):
            seen.append(value)
        if ref is None and len(seen) == window:
            ref, seen = compress_reference(seen), []  # the warm-up reference
        score = drift.evaluate()
        if ref is None or len(seen[-window:]) < 2:
            assert np.isnan(score)
            continue
        expected = psi(ref, np.asarray(seen[-window:]), bins=drift.bins)
        assert score == expected or (np.isnan(score) and np.isnan(expected))


def test_drift_breaker_without_a_reference_warms_up_on_the_first_window() -> None:
    rng = np.random.default_rng(2)
    clock = StepClock()
    drift = DriftBreaker(clock.now, feature="ret_1", window=200, min_samples=100)
    for value in rng.normal(0, 1, 200):
        drift.observe(value)
    assert not drift.warming_up and np.isnan(drift.evaluate())  # window empty after warm-up
    for value in rng.normal(0, 1, 150):
        drift.observe(value)
    assert drift.evaluate() < 0.25 and not drift.tripped
    for value in rng.normal(-2, 1, 200):
        drift.observe(value)
    drift.evaluate()
    assert drift.tripped


def test_drift_breaker_skips_nan_features_and_needs_min_samples() -> None:
    clock = StepClock()
    drift = DriftBreaker(clock.now, reference=np.arange(1000.0), window=100, min_samples=50)
    for _ in range(80):
        drift.observe(float("nan"))
    for value in range(40):
        drift.observe(5_000.0 + value)
    assert np.isnan(drift.evaluate()) and not drift.tripped


def _stale(clock: StepClock) -> StaleBarBreaker:
    return StaleBarBreaker(clock.now, HOUR, factor=3)


def test_stale_bars_trip_when_the_quote_moves_but_no_bar_closes() -> None:
    clock = StepClock()
    stale = _stale(clock)
    for minute in range(0, 3 * 60 + 10, 5):
        clock.t = datetime(2024, 1, 2, 9, tzinfo=UTC) + timedelta(minutes=minute)
        stale.observe("EURUSD", 1_704_182_400, quote=minute)  # same bar, the quote moves
    assert stale.tripped
    assert (stale.reason or "").startswith("EURUSD: no new closed bar for 3:")


def test_missing_bars_while_the_quote_moves_trip_too() -> None:
    clock = StepClock()
    stale = _stale(clock)
    for minute in range(0, 4 * 60, 10):
        clock.t = datetime(2024, 1, 2, 9, tzinfo=UTC) + timedelta(minutes=minute)
        stale.observe("USDJPY", None, quote=minute)
    assert "USDJPY: no closed bars at all" in (stale.reason or "")


def test_a_weekend_is_not_stale_and_the_clock_restarts_when_quotes_resume() -> None:
    clock = StepClock(datetime(2024, 1, 5, 21, tzinfo=UTC))  # Friday
    stale = _stale(clock)
    stale.observe("EURUSD", 100, quote=1)
    for _ in range(48):  # the weekend: neither bars nor quotes change
        clock.t += HOUR
        stale.observe("EURUSD", 100, quote=1)
    assert not stale.tripped
    clock.t += HOUR  # Sunday open: quotes move, the closed bar is Friday's for a while
    stale.observe("EURUSD", 100, quote=2)
    clock.t += 2 * HOUR
    stale.observe("EURUSD", 100, quote=3)
    assert not stale.tripped
    clock.t += HOUR + timedelta(minutes=1)
    stale.observe("EURUSD", 100, quote=4)
    assert stale.tripped


def test_fresh_bars_keep_the_breaker_quiet() -> None:
    clock = StepClock()
    stale = _stale(clock)
    for k in range(48):
        clock.t += HOUR
        stale.observe("EURUSD", k, quote=k)
    assert not stale.tripped


def test_trading_day_rolls_at_the_configured_utc_hour() -> None:
    late = datetime(2024, 1, 2, 22, 30, tzinfo=UTC)
    assert trading_day(late).isoformat() == "2024-01-02"
    assert trading_day(late, roll_hour=22).isoformat() == "2024-01-02"
    assert trading_day(late - HOUR, roll_hour=22).isoformat() == "2024-01-01"
    assert day_start(trading_day(late, 22), 22) == datetime(2024, 1, 2, 22, tzinfo=UTC)


def test_daily_loss_counts_from_the_days_floating_baseline() -> None:
    clock, events = StepClock(), []
    loss = DailyLossBreaker(clock.now, limit=100.0)
    BreakerBoard([loss], events.append)
    assert loss.observe(realised=0.0, floating=-40.0) == 0.0  # yesterday's loss is not today's
    assert loss.observe(realised=-30.0, floating=-50.0) == pytest.approx(-40.0)
    assert not loss.tripped
    assert loss.observe(realised=-60.0, floating=-80.0) == pytest.approx(-100.0)
    assert loss.tripped and "reached the loss limit 100" in (loss.reason or "")
    baseline = _recorded(events, "baseline")
    assert len(baseline) == 1 and baseline[0].value == -40.0


def test_a_new_day_takes_a_new_baseline_but_keeps_the_trip() -> None:
    clock, events = StepClock(), []
    loss = DailyLossBreaker(clock.now, limit=10.0)
    BreakerBoard([loss], events.append)
    loss.observe(realised=0.0, floating=0.0)
    loss.observe(realised=-20.0, floating=0.0)
    assert loss.tripped
    clock.t += timedelta(days=1)
    assert loss.observe(realised=0.0, floating=5.0) == 0.0
    assert loss.tripped and len(_recorded(events, "baseline")) == 2


def test_daily_loss_without_a_limit_only_measures() -> None:
    loss = DailyLossBreaker(StepClock().now, limit=None)
    assert loss.observe(realised=-1e9, floating=0.0) == -1e9 and not loss.tripped
    with pytest.raises(ValueError, match="positive"):
        DailyLossBreaker(StepClock().now, limit=0.0)


def test_board_resets_by_name_and_names_what_it_knows() -> None:
    clock = StepClock()
    board = BreakerBoard([HaltedBreaker(clock.now), CircuitBreaker(clock.now)])
    board["halted"].trip("tagged")
    assert board.tripped and board.reasons() == {"halted": "tagged"}
    assert board.states() == {"halted": True, "order_errors": False}
    assert board.reset("halted", by="carol") and not board.tripped
    with pytest.raises(KeyError, match="known: \\['halted', 'order_errors'\\]"):
        board.reset("nope", by="carol")
    with pytest.raises(ValueError, match="two breakers"):
        BreakerBoard([HaltedBreaker(clock.now), HaltedBreaker(clock.now)])


def test_restore_replays_trips_and_applies_a_pending_reset_request_once() -> None:
    clock, events = StepClock(), []
    t0 = clock.t
    history = [
        BreakerEvent("halted", "trip", "tagged", t0),
        BreakerEvent("order_errors", "trip", "10027", t0),
        BreakerEvent("order_errors", "reset_requested", "go", t0 + HOUR, by="dave"),
        BreakerEvent("latency", "trip", "slow", t0),
        BreakerEvent("latency", "reset_requested", "go", t0 + HOUR, by="erin"),
        BreakerEvent("latency", "reset", "was: slow", t0 + HOUR, by="erin"),
        BreakerEvent("unknown", "trip", "from an older worker", t0),
    ]
    board = BreakerBoard(
        [HaltedBreaker(clock.now), CircuitBreaker(clock.now), LatencyBreaker(clock.now)],
        events.append,
    )
    board.restore(history)
    assert board.reasons() == {"halted": "tagged"}
    assert board["halted"].tripped_at == t0
    assert [(e.breaker, e.event, e.by) for e in events] == [("order_errors", "reset", "dave")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.001, 0.2, 0.25, 0.26, 0.4, 1.0]), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.9, 0.99]),
)
def test_latency_breaker_trips_exactly_when_the_windowed_quantile_exceeds_the_slo(
    latencies: list[float], quantile: float
) -> None:
    """The hot-path shortcut (count over the SLO first) never changes when it trips."""
    now = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    breaker = LatencyBreaker(now, slo_seconds=0.25, quantile=quantile, window=50, min_samples=10)
    expected_trip = None
    for i, seconds in enumerate(latencies):
        breaker.observe(seconds)
        window = latencies[max(0, i - 49) : i + 1]
        naive = len(window) >= 10 and float(np.quantile(window, quantile)) > 0.25
        if naive and expected_trip is None:
            expected_trip = i
        assert breaker.tripped == (expected_trip is not None), i


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.integers(-3 * 24 * 60, 3 * 24 * 60), min_size=1, max_size=40),
    roll_hour=st.integers(0, 23),
    offset=st.sampled_from([0, 2, -5]),
)
def test_the_kept_trading_day_is_the_clocks_day_however_the_clock_moves(
    minutes: list[int], roll_hour: int, offset: int
) -> None:
    """Forward, backward, across roll hours and in a zone other than UTC."""
    zone = timezone(timedelta(hours=offset))
    clock = StepClock()
    loss = DailyLossBreaker(clock.now, limit=None, roll_hour=roll_hour)
    for minute in minutes:
        clock.t = datetime(2024, 3, 10, 12, tzinfo=zone) + timedelta(minutes=minute)
        day = trading_day(clock.t, roll_hour)
        assert loss.day_start() == day_start(day, roll_hour)
        loss.observe(realised=0.0, floating=0.0)
        assert loss.day == day


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(-1e150, 1e150) | st.sampled_from([0.0, -0.0, 1e-300, -5e-324]),
        max_size=140,
    )
)
def test_the_plain_sum_of_a_psi_is_numpys_sum_bit_for_bit(values: list[float]) -> None:
    """Short and long, blocks of eight and their rests, signed zeros and tiny values."""
    want = np.sum(np.asarray(values, dtype=np.float64))
    assert np.float64(numpy_sum(values)).tobytes() == want.tobytes()
