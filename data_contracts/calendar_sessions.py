"""Exchange sessions for exchange-traded CFDs: the trading minutes of an ``exchange-calendars``
calendar, holidays and early closes included, judged in the clock the bars came in.

An index CFD trades when its underlying future trades, so a fixed weekly window (what FX gets
in :mod:`data_contracts.sessions`) would call Thanksgiving afternoon a gap and miss a bar planted
on Christmas Day. A symbol's record names its calendar (``session_calendar = "CMES"``); MT5's
Python API exposes no session times, so the name is the desk's choice, and for most MT5 index
CFDs it is CME Globex (``CMES`` / ``us_futures``), not the cash exchange.

The rule for a bar of length ``step`` that opens at ``t``: it is **in session when
[t, t + step) overlaps the calendar's trading minutes**. That is what a terminal shows: MT5
draws a bar when the first tick inside its interval arrives and stamps it with the interval's
start, so an H1 bar opening at 17:00 Chicago when Globex reopens at 17:00 is real, and so is
the H1 bar 11:00–12:00 before a noon early close, while a bar wholly inside a holiday, a
weekend or the daily break cannot have had a tick. Gaps use the same rule: the expected bars
between two bars are the slots whose intervals overlap trading minutes, so a holiday or an
early close is never a gap.

One correction on top of the library: exchange-calendars models CME Globex as 17:00 → 17:00
Chicago, but Globex halts every day from 16:00 to 17:00 Chicago (MT5 index CFDs quote no bar
there: a NY+7 broker's US500 opens its day at 01:00 server time). :data:`DAILY_BREAKS` removes
that hour for the calendars that model Globex.

Everything is vectorized over the calendar's schedule (one row per session): the in-session
test is one ``searchsorted``; gap counting uses a cumulative count of open slots over merged
slot ranges, so no slot or bar is visited by a Python loop. ``exchange_calendars`` is imported
only when a calendar is used (it takes seconds to import).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.server_time import ServerTime
from data_contracts.sessions import WEEK_SECONDS, wall_clock_ns

_NS = 1_000_000_000
_MONDAY = 4 * 86_400  # as in data_contracts.sessions: slots count from a Monday 00:00

# canonical calendar name → (zone, daily halt): the library's sessions run 17:00 → 17:00
# Chicago; a session closes at the halt instead (the next session's 17:00 open ends it)
DAILY_BREAKS: dict[str, tuple[str, time]] = {
    "CMES": ("America/Chicago", time(16)),
    "us_futures": ("America/Chicago", time(16)),
}


class SessionCalendarError(ValueError):
    """A symbol's ``session_calendar`` is not an exchange-calendars name, or the calendar has
    no data for the dates of the symbol's bars; the message names the symbol and the calendar.

    Operator action: set ``session_calendar`` in the symbol's record to a name
    ``exchange_calendars.getcalendar_names()`` lists (e.g. ``CMES`` for CME Globex index
    futures, ``XNYS`` for the New York cash session), or validate only the dates the calendar
    covers.
    """


@dataclass(frozen=True)
class CalendarSession:
    """An exchange calendar's trading minutes, with bars aligned in ``clock`` (the server
    time the symbol's bars were imported in: a D1 bar of a NY+7 broker starts at 17:00 NY)."""

    calendar: str
    clock: str = "UTC"

    def __post_init__(self) -> None:
        ServerTime.parse(self.clock)  # fail at configuration time, not mid-validation


def calendar_session(symbol: str, calendar: str, clock: str = "UTC") -> CalendarSession:
    """The session of ``symbol`` from its record's ``session_calendar``, checked by name.

    Raises:
        SessionCalendarError: ``calendar`` is not a name exchange-calendars knows.
    """
    check_calendar_name(calendar, symbol)
    return CalendarSession(calendar, clock)


def check_calendar_name(calendar: str, symbol: str) -> str:
    """``calendar`` if exchange-calendars knows the name (aliases included).

    Raises:
        SessionCalendarError: naming the symbol and the calendar, with a few known names.
    """
    if calendar not in calendar_names():
        raise SessionCalendarError(
            f"{symbol}: session_calendar {calendar!r} is not an exchange-calendars name "
            "(e.g. 'CMES' for CME Globex, 'XNYS', 'XLON', 'XETR'; "
            "exchange_calendars.getcalendar_names() lists them all)"
        )
    return calendar


@dataclass(frozen=True)
class TradingHours:
    """Disjoint trading intervals ``[opens[i], closes[i])``, wall-clock ns of the bars' clock,
    sorted."""

    opens: np.ndarray
    closes: np.ndarray

    def in_session(self, wall_ns: np.ndarray, step_seconds: int) -> np.ndarray:
        """True where the bar ``[t, t + step)`` overlaps trading minutes."""
        after = np.searchsorted(self.closes, wall_ns, side="right")  # first close beyond t
        inside = after < len(self.closes)
        overlap = np.zeros(len(wall_ns), dtype=bool)
        overlap[inside] = self.opens[after[inside]] < wall_ns[inside] + step_seconds * _NS
        return overlap

    def missing_slots(self, wall_ns: np.ndarray, step_seconds: int) -> np.ndarray:
        """For each bar (sorted by time), how many tradable bar slots lie between it and the
        previous bar; 0 for the first bar and where time does not increase."""
        if WEEK_SECONDS % step_seconds:
            raise ValueError(f"bar length {step_seconds}s does not divide a week")
        slot = _slots(wall_ns, step_seconds)
        starts, before, ends = self._open_slot_ranges(step_seconds)
        missing = np.zeros(len(slot), dtype=np.int64)
        if len(slot) > 1:
            later = slot[1:] > slot[:-1]
            gap = _count(slot[1:] - 1, starts, before, ends) - _count(
                slot[:-1], starts, before, ends
            )
            missing[1:] = np.where(later, gap, 0)
        return missing

    def _open_slot_ranges(self, step_seconds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Merged, disjoint slot ranges [start, end) that overlap trading minutes, and the
        open slots before each range."""
        first = _slots(self.opens, step_seconds)
        last = _slots(self.closes - 1, step_seconds) + 1  # a slot the close cuts into trades
        if not len(first):
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(1, dtype=np.int64), empty
        reach = np.maximum.accumulate(last)
        new = np.ones(len(first), dtype=bool)
        new[1:] = first[1:] >= reach[:-1]  # a range that starts past all before it
        starts = first[new]
        ends = np.maximum.reduceat(last, np.flatnonzero(new))
        before = np.concatenate([[0], np.cumsum(ends - starts)])
        return starts, before, ends


def trading_hours(
    session: CalendarSession, symbol: str, first: pd.Timestamp, last: pd.Timestamp
) -> TradingHours:
    """The calendar's trading intervals around the bars ``first`` … ``last`` (UTC), in the
    session's clock, daily breaks removed.

    Raises:
        SessionCalendarError: unknown calendar, or no calendar data for those dates.
    """
    schedule = _schedule(session.calendar, symbol, first, last)
    opens, closes = _intervals(schedule, session.calendar)
    order = np.argsort(opens.to_numpy("datetime64[ns]"), kind="stable")
    opens_wall = wall_clock_ns(opens.iloc[order], session.clock)
    closes_wall = wall_clock_ns(closes.iloc[order], session.clock)
    keep = closes_wall > opens_wall
    return TradingHours(opens_wall[keep], closes_wall[keep])


def _schedule(calendar: str, symbol: str, first: pd.Timestamp, last: pd.Timestamp) -> Any:
    """The calendar's schedule (UTC open/break/close per session) covering the bars' span.

    Sessions open up to a day before their date, so two days each side cover every bar; a
    calendar that records holidays only up to some year gets no padding past its last one.
    """
    canonical = _library().calendar_utils.global_calendar_dispatcher.resolve_alias(
        check_calendar_name(calendar, symbol)
    )
    day = pd.Timedelta(days=1)
    first_day = first.tz_convert("UTC").normalize().tz_localize(None)
    last_day = last.tz_convert("UTC").normalize().tz_localize(None)
    for pad in (2 * day, 0 * day):
        try:
            return _cached_schedule(canonical, first_day - pad, last_day + pad)
        except (_library().errors.CalendarError, ValueError) as error:
            failure = error
    raise SessionCalendarError(
        f"{symbol}: session_calendar {calendar!r} has no data for the bars from "
        f"{first.isoformat()} to {last.isoformat()}: {failure}"
    ) from failure


@lru_cache(maxsize=16)
def _cached_schedule(canonical: str, start: pd.Timestamp, end: pd.Timestamp) -> Any:
    return _library().get_calendar(canonical, start=start, end=end).schedule


def _intervals(schedule: Any, calendar: str) -> tuple[pd.Series, pd.Series]:
    """UTC open and close instants of every trading interval (lunch breaks split a session)."""
    opens, closes = schedule["open"], schedule["close"]
    canonical = _library().calendar_utils.global_calendar_dispatcher.resolve_alias(calendar)
    if canonical in DAILY_BREAKS:
        closes = _before_daily_break(closes, *DAILY_BREAKS[canonical])
    split = schedule["break_start"].notna() & schedule["break_end"].notna()
    first_close = closes.where(~split, schedule["break_start"])
    pieces_open = pd.concat([opens, schedule["break_end"][split]])
    pieces_close = pd.concat([first_close, closes[split]])
    return _as_utc(pieces_open), _as_utc(pieces_close)


def _before_daily_break(closes: pd.Series, zone: str, halt: time) -> pd.Series:
    """Closes moved back to the daily halt on their own day (an earlier close stays)."""
    local = closes.dt.tz_convert(zone).dt.tz_localize(None)
    halt_at = local.dt.normalize() + pd.Timedelta(hours=halt.hour, minutes=halt.minute)
    capped = halt_at.dt.tz_localize(zone, nonexistent="shift_forward", ambiguous=False)
    capped_utc: pd.Series = capped.dt.tz_convert("UTC")
    moved: pd.Series = closes.where(closes <= capped_utc, capped_utc)
    return moved


def _as_utc(values: pd.Series) -> pd.Series:
    utc: pd.Series = pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
    return utc.reset_index(drop=True)


def _slots(wall_ns: np.ndarray, step_seconds: int) -> np.ndarray:
    """Bar slot index of each wall-clock time (floor), counted from a Monday 00:00."""
    slot: np.ndarray = (wall_ns.astype(np.int64) - _MONDAY * _NS) // (step_seconds * _NS)
    return slot


def _count(
    slot: np.ndarray, starts: np.ndarray, before: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Open slots with index ≤ ``slot``."""
    if not len(starts):
        return np.zeros(len(slot), dtype=np.int64)
    k = np.searchsorted(starts, slot, side="right") - 1
    inside = k >= 0
    kk = np.where(inside, k, 0)
    within = np.minimum(slot + 1, ends[kk]) - starts[kk]
    counted: np.ndarray = np.where(inside, before[kk] + within, 0)
    return counted


@lru_cache(maxsize=1)
def calendar_names() -> frozenset[str]:
    """Every name exchange-calendars knows, aliases included (imported on first use: seconds)."""
    return frozenset(_library().get_calendar_names(include_aliases=True))


def _library() -> Any:
    """exchange_calendars, imported on first use: it takes seconds, and most stores trade FX."""
    import exchange_calendars  # type: ignore[import-untyped]

    return exchange_calendars
