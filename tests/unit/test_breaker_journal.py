"""Breaker events live in the journal: a restart is not a reset, and a reset is journaled once;
on a SQLite file and on PostgreSQL alike (``journal_url``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from serving.journal import Journal
from serving.risk.board import (
    REQUEST_POLL_SECONDS,
    JournaledBreakers,
    RiskLimits,
    WorkerBreakers,
)


class StepClock:
    def __init__(self, t: datetime = datetime(2024, 1, 2, 9, tzinfo=UTC)) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def _start(
    journal: Journal, clock: StepClock, limit: float | None = 50.0, account: str = ""
) -> WorkerBreakers:
    breakers = WorkerBreakers(clock.now, "H1", RiskLimits(daily_loss_limit=limit))
    JournaledBreakers(breakers, journal, account).restore()
    return breakers


def test_every_trip_and_reset_is_a_journal_row(journal_url: str) -> None:
    journal, clock = Journal(journal_url), StepClock()
    breakers = _start(journal, clock)
    breakers.halted.observe("registered model tagged halted: drift")
    clock.t += timedelta(minutes=5)
    breakers.reset("halted", by="alice")
    rows = journal.read_breaker_events("halted")
    assert rows[["event", "by"]].values.tolist() == [["trip", "worker"], ["reset", "alice"]]
    assert rows["reason"].iloc[0] == "registered model tagged halted: drift"
    assert rows["at"].iloc[1] == clock.t


def test_daily_loss_trip_survives_a_restart_and_a_new_day_keeps_it(journal_url: str) -> None:
    url, clock = journal_url, StepClock()
    first = _start(Journal(url), clock)
    first.daily_loss.observe(realised=0.0, floating=-10.0)
    first.daily_loss.observe(realised=-45.0, floating=-20.0)
    assert first.daily_loss.tripped
    reason = first.daily_loss.reason

    clock.t += timedelta(hours=2)
    again = _start(Journal(url), clock)
    assert again.daily_loss.tripped and again.daily_loss.reason == reason
    assert again.daily_loss.baseline == -10.0  # today's baseline, not a new one

    clock.t += timedelta(days=1)
    next_day = _start(Journal(url), clock)
    assert next_day.daily_loss.tripped  # reset is explicit, even across days
    assert next_day.daily_loss.observe(realised=0.0, floating=3.0) == 0.0
    baselines = Journal(url).read_breaker_events("daily_loss").query("event == 'baseline'")
    assert baselines["value"].tolist() == [-10.0, 3.0]


def test_a_restart_mid_day_keeps_the_losses_already_made(journal_url: str) -> None:
    url, clock = journal_url, StepClock()
    first = _start(Journal(url), clock)
    first.daily_loss.observe(realised=0.0, floating=0.0)
    first.daily_loss.observe(realised=-30.0, floating=-15.0)
    assert not first.daily_loss.tripped
    clock.t += timedelta(hours=1)
    restarted = _start(Journal(url), clock)
    assert restarted.daily_loss.observe(realised=-30.0, floating=-25.0) == pytest.approx(-55.0)
    assert restarted.daily_loss.tripped


def test_a_reset_requested_in_the_journal_is_applied_and_journaled_by_the_worker(
    journal_url: str,
) -> None:
    journal, clock = Journal(journal_url), StepClock()
    breakers = WorkerBreakers(clock.now, "H1", RiskLimits())
    journaled = JournaledBreakers(breakers, journal)
    journaled.restore()
    breakers.order_errors.trip("retcode 10027")
    journal.request_breaker_reset("order_errors", by="frank", at=clock.t, note="AT re-enabled")
    journaled.apply_reset_requests()
    assert not breakers.order_errors.tripped
    journaled.apply_reset_requests()  # seen once, applied once
    events = journal.read_breaker_events("order_errors")["event"].tolist()
    assert events == ["trip", "reset_requested", "reset"]


def test_a_reset_requested_while_the_worker_was_down_applies_at_start_up(journal_url: str) -> None:
    url, clock = journal_url, StepClock()
    _start(Journal(url), clock).latency.trip("p99 over the SLO")
    Journal(url).request_breaker_reset("latency", by="gina", at=clock.t)
    assert not _start(Journal(url), clock).latency.tripped
    assert not _start(Journal(url), clock).latency.tripped  # and the next start agrees
    rows = Journal(url).read_breaker_events("latency")
    assert rows[["event", "by"]].values.tolist() == [
        ["trip", "worker"],
        ["reset_requested", "gina"],
        ["reset", "gina"],
    ]


def test_limits_refuse_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="tripped_policy"):
        RiskLimits(tripped_policy="panic")  # type: ignore[arg-type]


def test_breaker_events_read_back_tz_aware(journal_url: str) -> None:
    journal = Journal(journal_url)
    at = datetime(2024, 3, 1, 13, tzinfo=UTC)
    journal.record_breaker_event(
        breaker="daily_loss", event="baseline", reason="r", at=at, by="worker", value=-2.5
    )
    frame = journal.read_breaker_events()
    assert frame["at"].iloc[0] == at and frame["value"].iloc[0] == -2.5
    assert journal.read_breaker_events(after_id=int(frame["event_id"].iloc[0])).empty


def test_trips_belong_to_their_account_and_a_cli_request_to_whichever_worker_runs(
    journal_url: str,
) -> None:
    url, clock = journal_url, StepClock()
    _start(Journal(url), clock, account="1@live").latency.trip("p99 over the SLO")
    assert not _start(Journal(url), clock, account="2@sim").tripped  # another account's trip
    assert _start(Journal(url), clock, account="1@live").latency.tripped  # a restart keeps it
    Journal(url).request_breaker_reset("latency", by="gina", at=clock.t)  # the CLI: account ""
    assert not _start(Journal(url), clock, account="1@live").latency.tripped
    rows = Journal(url).read_breaker_events("latency", account="1@live")
    assert rows[["event", "by"]].values.tolist() == [["trip", "worker"], ["reset", "gina"]]


def test_trips_journaled_before_accounts_existed_are_history_not_state(journal_url: str) -> None:
    url, clock = journal_url, StepClock()
    _start(Journal(url), clock).halted.trip("tagged halted")  # account "": an older worker
    assert not _start(Journal(url), clock, account="1@live").tripped
    assert _start(Journal(url), clock).halted.tripped  # still the "" account's state


class CountingJournal(Journal):
    """A journal that counts its reset-request reads and may say it cannot tell (as on
    PostgreSQL) whether anything was written."""

    def __init__(self, url: str, *, tells: bool = True) -> None:
        super().__init__(url)
        self.tells, self.reads = tells, 0

    def breaker_events_version(self) -> tuple[int, int] | None:
        return super().breaker_events_version() if self.tells else None

    def breaker_event_rows(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.reads += 1
        return super().breaker_event_rows(**kwargs)


def test_a_request_from_another_process_is_read_once_and_quiet_bars_read_nothing(
    journal_url: str,
) -> None:
    url, clock = journal_url, StepClock()
    journal = CountingJournal(url)
    breakers = WorkerBreakers(clock.now, "H1", RiskLimits())
    journaled = JournaledBreakers(breakers, journal)
    journaled.restore()
    breakers.latency.trip("p99 over the SLO")
    journaled.apply_reset_requests()
    reads = journal.reads
    for _ in range(5):  # bars with nothing written anywhere: no query
        journaled.apply_reset_requests()
    assert journal.reads == reads
    Journal(url).request_breaker_reset("latency", by="hana", at=clock.t)  # the CLI's connection
    journaled.apply_reset_requests()
    assert not breakers.latency.tripped and journal.reads == reads + 1


def test_where_the_journal_cannot_tell_requests_are_read_once_per_poll_period(
    journal_url: str,
) -> None:
    url, clock, ticks = journal_url, StepClock(), [100.0]
    journal = CountingJournal(url, tells=False)
    breakers = WorkerBreakers(clock.now, "H1", RiskLimits())
    journaled = JournaledBreakers(breakers, journal, monotonic=lambda: ticks[0])
    journaled.restore()
    breakers.halted.observe("tagged halted")
    journaled.apply_reset_requests()
    reads = journal.reads
    journal.request_breaker_reset("halted", by="ivan", at=clock.t)
    ticks[0] += REQUEST_POLL_SECONDS / 2
    journaled.apply_reset_requests()
    assert breakers.halted.tripped and journal.reads == reads  # not yet: within the period
    ticks[0] += REQUEST_POLL_SECONDS
    journaled.apply_reset_requests()
    assert not breakers.halted.tripped and journal.reads == reads + 1


def test_the_workers_own_events_are_not_read_back_on_sqlite_and_hide_no_request(
    tmp_path: Any,
) -> None:
    """A trip or a day's baseline is not news to the worker: the next bar reads nothing (on a
    SQLite file and in memory), while a request written next to the worker's own event, by
    another connection or through the same journal, is applied on the next bar."""
    for url, other in (
        (f"sqlite:///{tmp_path / 'journal.sqlite'}", True),
        ("sqlite://", False),  # one connection for all: the request comes through the journal
    ):
        clock = StepClock()
        journal = CountingJournal(url)
        breakers = WorkerBreakers(clock.now, "H1", RiskLimits(daily_loss_limit=50.0))
        journaled = JournaledBreakers(breakers, journal)
        journaled.restore()
        journaled.apply_reset_requests()
        reads = journal.reads
        breakers.daily_loss.observe(realised=0.0, floating=-1.0)  # a baseline
        breakers.latency.trip("p99 over the SLO")
        journaled.apply_reset_requests()
        assert journal.reads == reads  # only our own rows were written
        breakers.halted.observe("tagged halted")
        (Journal(url) if other else journal).request_breaker_reset("latency", by="jo", at=clock.t)
        breakers.drift.trip("psi 0.4")  # our own write right after the request
        journaled.apply_reset_requests()
        assert not breakers.latency.tripped and journal.reads == reads + 1
        assert breakers.halted.tripped and breakers.drift.tripped
        events = journal.read_breaker_events()[["breaker", "event"]].values.tolist()
        assert events[-2:] == [["drift", "trip"], ["latency", "reset"]]


def test_a_request_after_the_workers_own_events_is_applied_once(journal_url: str) -> None:
    """Own events between looks move the next look past them: a later request is read once
    and applied once, on a SQLite file and on PostgreSQL."""
    clock = StepClock()
    journal = Journal(journal_url)
    breakers = WorkerBreakers(clock.now, "H1", RiskLimits())
    journaled = JournaledBreakers(breakers, journal)
    journaled.restore()
    breakers.latency.trip("p99 over the SLO")
    journaled.apply_reset_requests()
    breakers.halted.observe("tagged halted")
    journaled.apply_reset_requests()
    Journal(journal_url).request_breaker_reset("halted", by="kim", at=clock.t)
    journaled.apply_reset_requests()
    journaled.apply_reset_requests()
    assert not breakers.halted.tripped and breakers.latency.tripped
    assert journal.read_breaker_events("halted")["event"].tolist() == [
        "trip",
        "reset_requested",
        "reset",
    ]
