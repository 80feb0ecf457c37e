"""An index CFD on CME Globex is judged against exchange-calendars' CMES schedule: holidays,
early closes, the daily 16:00–17:00 Chicago halt and weekends are neither gaps nor allowed
bars, and US daylight saving moves none of it. The honest bar times come from CME's
published hours (tests.factories.make_globex_times), not from the library under test."""

from __future__ import annotations

import pandas as pd
import pytest

from data_contracts.calendar_sessions import (
    CalendarSession,
    SessionCalendarError,
    calendar_session,
    trading_hours,
)
from data_contracts.config import ContractConfig
from data_contracts.flags import add_check_flags
from data_contracts.sessions import wall_clock_ns
from tests.factories import make_bars_at, make_globex_times

SYMBOL = "US500"
CMES_NY7 = ContractConfig(sessions={SYMBOL: CalendarSession("CMES", clock="NY+7")})

# CME holiday hours in the windows below, Chicago wall clock, as exchange-calendars keeps them
THANKSGIVING_2024 = [
    ("2024-11-28 12:00", "2024-11-28 17:00"),  # Thursday: early close at noon
    ("2024-11-29 12:00", "2024-11-29 17:00"),  # Black Friday: early close at noon
]
CHRISTMAS_2024 = [
    ("2024-12-24 12:00", "2024-12-25 17:00"),  # Christmas Eve early close, Christmas closed
    ("2024-12-31 16:00", "2025-01-01 17:00"),  # New Year's Day closed
]
GOOD_FRIDAY_2024 = [("2024-03-28 16:00", "2024-03-31 17:00")]


def flagged(bars: pd.DataFrame, check: str, timeframe: str = "H1") -> pd.Series:
    flags = add_check_flags(bars, symbol=SYMBOL, timeframe=timeframe, config=CMES_NY7)
    return bars["time"][flags[f"flag_{check}"]].dt.tz_convert("America/Chicago")


def chicago(times: pd.Series) -> list[str]:
    return times.dt.strftime("%Y-%m-%d %H:%M").tolist()


def with_bar(bars: pd.DataFrame, chicago_time: str) -> pd.DataFrame:
    planted = bars.iloc[[0]].copy()
    planted["time"] = pd.Timestamp(chicago_time, tz="America/Chicago").tz_convert("UTC")
    return pd.concat([bars, planted]).sort_values("time").reset_index(drop=True)


@pytest.fixture(scope="module")
def autumn() -> pd.DataFrame:
    """US500 H1 from the week of the November DST change to the first week of January:
    Thanksgiving, Christmas and New Year inside."""
    times = make_globex_times("2024-10-27", "2025-01-04", THANKSGIVING_2024 + CHRISTMAS_2024)
    return make_bars_at(SYMBOL, times)


@pytest.fixture(scope="module")
def spring() -> pd.DataFrame:
    """US500 H1 across the March DST change and Good Friday 2024."""
    return make_bars_at(SYMBOL, make_globex_times("2024-03-03", "2024-04-06", GOOD_FRIDAY_2024))


@pytest.mark.parametrize("check", ["outside_session", "gap", "misaligned_time"])
def test_honest_globex_bars_across_holidays_and_both_dst_changes_raise_nothing(
    autumn: pd.DataFrame, spring: pd.DataFrame, check: str
) -> None:
    assert chicago(flagged(autumn, check)) == []
    assert chicago(flagged(spring, check)) == []


def test_the_fx_week_would_call_the_holidays_gaps_and_the_halt_missing(
    autumn: pd.DataFrame,
) -> None:
    """What the calendar fixes: in the FX week every daily halt is a one-bar gap."""
    flags = add_check_flags(autumn, symbol=SYMBOL, timeframe="H1", config=ContractConfig())
    assert flags["flag_gap"].sum() > 40


@pytest.mark.parametrize(
    "planted",
    [
        "2024-12-25 10:00",  # Christmas Day
        "2024-11-28 13:00",  # Thanksgiving afternoon, after the noon close
        "2024-11-29 12:00",  # Black Friday, the hour of the noon close
        "2024-12-10 16:00",  # the daily halt
        "2024-11-30 09:00",  # Saturday
        "2024-12-01 16:00",  # Sunday, an hour before the week opens
    ],
)
def test_a_bar_on_a_holiday_an_early_close_the_halt_or_a_weekend_is_outside_session(
    autumn: pd.DataFrame, planted: str
) -> None:
    assert chicago(flagged(with_bar(autumn, planted), "outside_session")) == [planted]


def test_good_friday_bar_is_outside_session(spring: pd.DataFrame) -> None:
    bars = with_bar(spring, "2024-03-29 09:00")
    assert chicago(flagged(bars, "outside_session")) == ["2024-03-29 09:00"]


def test_a_lost_bar_inside_trading_minutes_is_still_a_gap(autumn: pd.DataFrame) -> None:
    local = autumn["time"].dt.tz_convert("America/Chicago")
    # the Wednesday 10:00 bar before Thanksgiving and the Thursday 11:00 bar before its close
    lost = local.dt.strftime("%Y-%m-%d %H:%M").isin(["2024-11-27 10:00", "2024-11-28 11:00"])
    gaps = flagged(autumn[~lost.to_numpy()].reset_index(drop=True), "gap")
    assert chicago(gaps) == ["2024-11-27 11:00", "2024-11-28 17:00"]


def test_bars_that_reopen_at_17_chicago_and_close_at_noon_are_in_session() -> None:
    """The rule: a bar is in session when its interval overlaps trading minutes. The H1 bar
    opening at the 17:00 reopen is; the M15 bar 11:45–12:00 before a noon close is, the
    12:00 one is not, and the H1 bar 16:00–17:00 (the halt) is not."""
    session = CalendarSession("CMES", clock="NY+7")
    times = pd.Series(
        pd.to_datetime(
            ["2024-11-28 11:45", "2024-11-28 12:00", "2024-11-28 17:00", "2024-11-27 16:00"]
        ).tz_localize("America/Chicago")
    )
    hours = trading_hours(session, SYMBOL, times.min(), times.max())
    wall = wall_clock_ns(times, session.clock)
    assert hours.in_session(wall[:2], 900).tolist() == [True, False]
    assert hours.in_session(wall[2:], 3600).tolist() == [True, False]


def test_m15_globex_bars_across_thanksgiving_raise_nothing() -> None:
    closed = THANKSGIVING_2024
    times = make_globex_times("2024-11-24", "2024-12-01", closed, timeframe="M15")
    bars = make_bars_at(SYMBOL, times)
    for check in ("outside_session", "gap"):
        assert chicago(flagged(bars, check, timeframe="M15")) == []


def test_d1_bars_of_a_ny7_broker_skip_christmas_day(autumn: pd.DataFrame) -> None:
    """A NY+7 broker's day runs 16:00 → 16:00 Chicago: the server day 25 December has no
    trading minute (noon close on the 24th, reopen 17:00 on the 25th) and is not a gap."""
    server_days = pd.date_range("2024-12-16", "2024-12-28", freq="D").tz_localize(None)
    weekdays = server_days[server_days.weekday < 5]
    utc = (weekdays - pd.Timedelta(hours=7)).tz_localize("America/New_York").tz_convert("UTC")
    bars = make_bars_at(SYMBOL, pd.Series(utc))
    assert chicago(flagged(bars, "gap", "D1")) == []
    outside = flagged(bars, "outside_session", "D1")
    assert [t.strftime("%m-%d") for t in outside + pd.Timedelta(hours=8)] == ["12-25"]


def test_an_unknown_calendar_is_refused_naming_the_symbol_and_the_calendar() -> None:
    with pytest.raises(SessionCalendarError, match=r"US500.*'CME_GLOBEX'"):
        calendar_session(SYMBOL, "CME_GLOBEX")


def test_dates_a_calendar_does_not_cover_are_refused_naming_both() -> None:
    """XBOM records its holidays only to 2026: bars in 2030 cannot be judged by it."""
    bars = make_bars_at("NIFTY", make_globex_times("2030-03-04", "2030-03-08"))
    config = ContractConfig(sessions={"NIFTY": CalendarSession("XBOM")})
    with pytest.raises(SessionCalendarError, match=r"NIFTY.*'XBOM'.*2030"):
        add_check_flags(bars, symbol="NIFTY", timeframe="H1", config=config)


def test_the_calendar_session_is_part_of_the_configs_record() -> None:
    assert CMES_NY7.to_dict()["sessions"] == {SYMBOL: {"calendar": "CMES", "clock": "NY+7"}}


@pytest.mark.parametrize(
    ("calendar", "zone", "local_times", "expected"),
    [
        # the H1 bar 09:00-10:00 holds the 09:30 open; 16:00 is the close
        ("XNYS", "America/New_York", ["2024-07-10 09:00", "2024-07-10 16:00"], [True, False]),
        # Hong Kong's lunch break 12:00-13:00 splits the session
        ("XHKG", "Asia/Hong_Kong", ["2024-07-03 11:00", "2024-07-03 12:00"], [True, False]),
    ],
)
def test_half_hour_opens_and_lunch_breaks_follow_the_overlap_rule(
    calendar: str, zone: str, local_times: list[str], expected: list[bool]
) -> None:
    times = pd.Series(pd.to_datetime(local_times).tz_localize(zone))
    hours = trading_hours(CalendarSession(calendar), "X", times.min(), times.max())
    assert hours.in_session(wall_clock_ns(times, "UTC"), 3600).tolist() == expected
