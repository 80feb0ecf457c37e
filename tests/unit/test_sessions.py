"""Session calendars: which bar times a symbol may have, and which missing ones are gaps."""

from __future__ import annotations

from datetime import date, time

import numpy as np
import pandas as pd
import pytest

from data_contracts.sessions import (
    FX_NEW_YORK_CLOSE,
    FX_SESSION,
    TradingSession,
    aligned,
    in_session,
    missing_slots,
    wall_seconds,
)


def wall(times: list[str], session: TradingSession = FX_SESSION) -> np.ndarray:
    return wall_seconds(pd.Series(pd.to_datetime(times, utc=True)), session)


def test_fx_week_opens_sunday_22_and_closes_friday_22_utc() -> None:
    times = [
        "2022-01-09 21:00",
        "2022-01-09 22:00",
        "2022-01-14 21:00",
        "2022-01-14 22:00",
        "2022-01-15 12:00",
        "2022-01-12 03:00",
    ]
    assert in_session(wall(times), FX_SESSION).tolist() == [False, True, True, False, False, True]


def test_new_york_close_session_follows_us_daylight_saving() -> None:
    # 17:00 New York is 21:00 UTC in summer and 22:00 UTC in winter
    summer = ["2017-07-09 20:00", "2017-07-09 21:00", "2017-07-14 20:00", "2017-07-14 21:00"]
    winter = ["2017-12-10 21:00", "2017-12-10 22:00", "2017-12-15 21:00", "2017-12-15 22:00"]
    assert in_session(wall(summer, FX_NEW_YORK_CLOSE), FX_NEW_YORK_CLOSE).tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert in_session(wall(winter, FX_NEW_YORK_CLOSE), FX_NEW_YORK_CLOSE).tolist() == [
        False,
        True,
        True,
        False,
    ]


def test_weekend_is_not_missing_but_a_lost_weekday_hour_is() -> None:
    times = ["2022-01-14 20:00", "2022-01-14 21:00", "2022-01-16 22:00", "2022-01-17 01:00"]
    assert missing_slots(wall(times), FX_SESSION, 3600).tolist() == [0, 0, 0, 2]


def test_holidays_excuse_their_slots_only() -> None:
    times = ["2022-12-23 21:00", "2022-12-27 00:00", "2022-12-27 03:00"]
    closed = missing_slots(wall(times), FX_SESSION, 3600, annual_holidays=[(12, 26)])
    open_ = missing_slots(wall(times), FX_SESSION, 3600)
    assert closed.tolist() == [0, 2, 2]  # Sunday 22:00, 23:00 are still expected
    assert open_.tolist() == [0, 26, 2]
    fixed = missing_slots(wall(times), FX_SESSION, 3600, holidays=[date(2022, 12, 26)])
    assert fixed.tolist() == closed.tolist()


def test_daily_bars_are_aligned_at_the_session_clocks_midnight() -> None:
    # a NY+7 broker's D1 bar opens at server midnight = 21:00 UTC in summer
    times = ["2017-07-10 21:00", "2017-07-10 22:00"]
    assert aligned(wall(times, FX_NEW_YORK_CLOSE), 86_400).tolist() == [True, False]
    assert aligned(wall(times), 86_400).tolist() == [False, False]


def test_session_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="server_time"):
        TradingSession(clock="Mars+1")
    with pytest.raises(ValueError, match="weekday"):
        TradingSession(open_weekday=7)
    always = TradingSession(open_weekday=0, open_time=time(0), close_weekday=0, close_time=time(0))
    assert in_session(wall(["2022-01-15 12:00"]), always).tolist() == [True]
