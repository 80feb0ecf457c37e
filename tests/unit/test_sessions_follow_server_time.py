"""A NY+7 broker's FX week opens Sunday 17:00 New York, summer and winter: its Monday-open
bars after US daylight saving starts (Sunday 21:00 UTC) are in session, not quarantined."""

from __future__ import annotations

import pandas as pd
import pytest

from data_contracts.config import ContractConfig
from data_contracts.flags import add_check_flags
from data_contracts.sessions import FX_NEW_YORK_CLOSE, FX_SESSION, fx_session_for
from tests.factories import make_bars


def ny_week_bars() -> pd.DataFrame:
    """Every H1 bar of the New York FX week from February to December 2022 (both US switches:
    13 March and 6 November), no holidays."""
    hours = pd.date_range("2022-02-01", "2022-12-01", freq="h", tz="UTC", inclusive="left")
    ny = hours.tz_convert("America/New_York")
    shifted = ny + pd.Timedelta(hours=7)  # NY+7: Monday 00:00 server = Sunday 17:00 New York
    open_days = shifted.weekday < 5
    christmas_free = ~((shifted.month == 12) | ((shifted.month == 1) & (shifted.day == 1)))
    times = hours[open_days & christmas_free]
    bars = make_bars("EURUSD", n=len(times))
    bars["time"] = pd.Series(times, dtype=bars["time"].dtype)
    return bars


def outside_session(bars: pd.DataFrame, config: ContractConfig) -> pd.Series:
    flags = add_check_flags(bars, symbol="EURUSD", timeframe="H1", config=config)
    return bars["time"][flags["flag_outside_session"]]


def test_a_ny7_week_across_both_dst_switches_has_no_session_false_positive() -> None:
    bars = ny_week_bars()
    config = ContractConfig(sessions={"EURUSD": fx_session_for("NY+7")})
    assert outside_session(bars, config).empty


def test_a_ny7_week_across_both_dst_switches_has_no_gap_or_misaligned_bar() -> None:
    """The week's UTC hours move with US daylight saving; its bar count does not, so neither
    switch leaves a missing hour or a doubled one, and H1 and D1 stay on the server's grid."""
    bars = ny_week_bars()
    config = ContractConfig(sessions={"EURUSD": fx_session_for("NY+7")})
    flags = add_check_flags(bars, symbol="EURUSD", timeframe="H1", config=config)
    assert bars["time"][flags["flag_gap"] | flags["flag_misaligned_time"]].empty
    days = bars[(bars["time"].dt.tz_convert("America/New_York").dt.hour == 17)]
    daily = add_check_flags(days, symbol="EURUSD", timeframe="D1", config=config)
    flagged = daily["flag_gap"] | daily["flag_misaligned_time"] | daily["flag_outside_session"]
    assert len(days) > 200
    assert days["time"][flagged.to_numpy()].empty


def test_the_fixed_utc_week_would_quarantine_the_summer_monday_opens() -> None:
    """The failure the broker's clock fixes: US summer opens at 21:00 UTC on Sunday."""
    flagged = outside_session(ny_week_bars(), ContractConfig())
    assert not flagged.empty
    assert set(flagged.dt.strftime("%a %H:%M")) == {"Sun 21:00"}


@pytest.mark.parametrize(
    ("setting", "session"),
    [("NY+7", FX_NEW_YORK_CLOSE), ("UTC", FX_SESSION), ("UTC+2", FX_SESSION)],
)
def test_the_fx_week_follows_the_server_time_setting(setting: str, session: object) -> None:
    assert fx_session_for(setting) == session
