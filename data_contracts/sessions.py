"""Weekly trading sessions and holidays: which bar times a symbol should (and may) have.

A gap is only a gap if the market was open, and a bar is only suspicious outside the hours
it trades; both need the symbol's session calendar. FX trades round the clock from Sunday
evening to Friday evening; brokers quote that week in their *server* clock, which for most
is "New York close" (``NY+7``: the FX week is Monday 00:00 → Saturday 00:00 there, and the
UTC hours move with US daylight saving). A session therefore names its clock with the same
setting the MT5 importer uses (``"UTC"``, ``"UTC+2"``, ``"NY+7"``) and its weekly open and
close in that clock. Bar alignment is judged in the same clock (a D1 bar of a ``NY+7``
broker starts at server midnight, which is 21:00 or 22:00 UTC).

Everything here is vectorized over int64 nanoseconds: 1M bars take milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time

import numpy as np
import pandas as pd

from data_contracts.server_time import ServerTime

WEEK_SECONDS = 7 * 86_400
_NS = 1_000_000_000
# 1970-01-05 was a Monday: wall-clock week positions count from Monday 00:00.
_MONDAY = 4 * 86_400


@dataclass(frozen=True)
class TradingSession:
    """One weekly trading window in a named clock; weekdays are Monday=0 … Sunday=6.

    ``open == close`` (same weekday and time) means a market that never closes.
    """

    clock: str = "UTC"
    open_weekday: int = 6
    open_time: time = time(22)
    close_weekday: int = 4
    close_time: time = time(22)

    def __post_init__(self) -> None:
        ServerTime.parse(self.clock)  # fail at configuration time, not mid-validation
        for day in (self.open_weekday, self.close_weekday):
            if not 0 <= day <= 6:
                raise ValueError(f"weekday {day} out of range 0 (Monday) … 6 (Sunday)")

    @property
    def open_second(self) -> int:
        """Seconds after Monday 00:00 (session clock) when the week opens."""
        return self.open_weekday * 86_400 + _seconds(self.open_time)

    @property
    def close_second(self) -> int:
        """Seconds after Monday 00:00 (session clock) when the week closes."""
        return self.close_weekday * 86_400 + _seconds(self.close_time)


FX_SESSION = TradingSession()
"""The FX week in UTC: Sunday 22:00 → Friday 22:00 (the synthetic market's calendar)."""

FX_NEW_YORK_CLOSE = TradingSession(
    clock="NY+7", open_weekday=0, open_time=time(0), close_weekday=5, close_time=time(0)
)
"""The FX week as most MT5 brokers keep it: 17:00 New York Sunday → 17:00 New York Friday."""


def fx_session_for(server_time: str) -> TradingSession:
    """The FX week of bars read in ``server_time`` (the setting the importer was told).

    A New York-based clock (``NY+7``) means a broker whose week opens Sunday 17:00 New York,
    summer and winter, so the week moves an hour in UTC with US daylight saving; any other
    clock keeps the fixed UTC week (Sunday 22:00 → Friday 22:00).

    Raises:
        ValueError: ``server_time`` is not a setting ``ServerTime`` knows.
    """
    zone = ServerTime.parse(server_time)
    return FX_SESSION if zone.base == "UTC" else FX_NEW_YORK_CLOSE


ANNUAL_FX_HOLIDAYS: frozenset[tuple[int, int]] = frozenset({(12, 25), (1, 1)})
"""(month, day) closed every year at FX brokers: Christmas Day and New Year's Day."""


def wall_seconds(times: pd.Series, session: TradingSession) -> np.ndarray:
    """Bar times as int64 nanoseconds of the session's wall clock (naive, epoch-based)."""
    return wall_clock_ns(times, session.clock)


def wall_clock_ns(times: pd.Series, clock: str) -> np.ndarray:
    """Aware times as int64 nanoseconds of the wall clock ``clock`` (a server-time setting)."""
    utc = times.dt.tz_convert("UTC")
    zone = ServerTime.parse(clock)
    if zone.base == "UTC":
        raw = utc.dt.tz_localize(None).to_numpy("datetime64[ns]").view("int64")
        shifted: np.ndarray = raw + zone.shift.value
        return shifted
    return zone.from_utc(utc).to_numpy("datetime64[ns]").view("int64")


def in_session(wall_ns: np.ndarray, session: TradingSession) -> np.ndarray:
    """True where a wall-clock time lies inside the weekly session (open ≤ t < close)."""
    position = (wall_ns // _NS - _MONDAY) % WEEK_SECONDS
    return _open_at(position, session)


def aligned(wall_ns: np.ndarray, step_seconds: int) -> np.ndarray:
    """True where a wall-clock time is a whole multiple of the bar length from midnight."""
    on_step: np.ndarray = (wall_ns % (step_seconds * _NS)) == 0
    return on_step


def missing_slots(
    wall_ns: np.ndarray,
    session: TradingSession,
    step_seconds: int,
    holidays: Iterable[date] = (),
    annual_holidays: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """For each bar, how many in-session, non-holiday bar slots lie between it and the previous.

    0 for the first bar and wherever time does not increase (ordering is another check).
    Counting uses a cumulative index of open slots (weeks × open slots per week, plus a
    per-week lookup table, minus holiday slots), so no gap is ever enumerated slot by slot.

    Raises:
        ValueError: the bar length does not divide a week (no MT5 timeframe does that).
    """
    if WEEK_SECONDS % step_seconds:
        raise ValueError(f"bar length {step_seconds}s does not divide a week")
    slot = (wall_ns // _NS - _MONDAY) // step_seconds
    index = _open_slot_index(
        session, step_seconds, _holiday_ranges(wall_ns, step_seconds, holidays, annual_holidays)
    )
    missing = np.zeros(len(slot), dtype=np.int64)
    if len(slot) > 1:
        later = slot[1:] > slot[:-1]
        gap = index(slot[1:] - 1) - index(slot[:-1])
        missing[1:] = np.where(later, gap, 0)
    return missing


def holiday_mask(
    wall_ns: np.ndarray,
    holidays: Iterable[date] = (),
    annual_holidays: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """True where a wall-clock time falls on a configured (or yearly) holiday."""
    days = pd.DatetimeIndex(wall_ns.astype("datetime64[ns]")).normalize()
    fixed = pd.DatetimeIndex(pd.to_datetime(sorted(holidays))) if holidays else None
    mask = np.zeros(len(days), dtype=bool)
    if fixed is not None:
        mask |= days.isin(fixed)
    for month, day in annual_holidays:
        mask |= (days.month == month) & (days.day == day)
    return mask


def _open_at(position: np.ndarray, session: TradingSession) -> np.ndarray:
    start, end = session.open_second, session.close_second
    if start == end:
        return np.ones(position.shape, dtype=bool)
    if start < end:
        return (position >= start) & (position < end)
    return (position >= start) | (position < end)


def _open_slot_index(
    session: TradingSession, step_seconds: int, holidays: tuple[np.ndarray, np.ndarray]
) -> _SlotIndex:
    per_week = WEEK_SECONDS // step_seconds
    table = np.cumsum(_open_at(np.arange(per_week) * step_seconds, session))
    return _SlotIndex(table, per_week, *holidays)


class _SlotIndex:
    """Open, non-holiday slots counted from the anchor week up to and including a slot."""

    def __init__(
        self, table: np.ndarray, per_week: int, starts: np.ndarray, ends: np.ndarray
    ) -> None:
        self.table, self.per_week = table, per_week
        self.starts, self.ends = starts, ends
        full = self._open(ends - 1) - self._open(starts - 1)
        self.before = np.concatenate([[0], np.cumsum(full)])  # holiday slots before holiday k

    def _open(self, slot: np.ndarray) -> np.ndarray:
        week, position = np.divmod(slot, self.per_week)
        opened: np.ndarray = week * self.table[-1] + self.table[position]
        return opened

    def __call__(self, slot: np.ndarray) -> np.ndarray:
        count = self._open(slot)
        if not len(self.starts):
            return count
        k = np.searchsorted(self.starts, slot, side="right") - 1
        inside = k >= 0
        kk = np.where(inside, k, 0)
        partial = self._open(np.minimum(slot, self.ends[kk] - 1)) - self._open(self.starts[kk] - 1)
        return count - np.where(inside, self.before[kk] + partial, 0)


def _holiday_ranges(
    wall_ns: np.ndarray,
    step_seconds: int,
    holidays: Iterable[date],
    annual_holidays: Iterable[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Slot ranges [start, end) of the holidays within the bars' years, sorted."""
    empty = np.zeros(0, dtype=np.int64)
    if not len(wall_ns):
        return empty, empty
    first = pd.Timestamp(int(wall_ns.min())).year
    last = pd.Timestamp(int(wall_ns.max())).year
    days = set(holidays)
    for year in range(first, last + 1):
        for month, day in annual_holidays:
            days.add(date(year, month, day))
    if not days:
        return empty, empty
    # pandas-stubs lack DatetimeIndex.asi8
    midnight = pd.DatetimeIndex(pd.to_datetime(sorted(days))).as_unit("s").asi8  # type: ignore[attr-defined]
    starts = (midnight - _MONDAY) // step_seconds
    ends = (midnight + 86_400 - _MONDAY) // step_seconds
    return starts.astype(np.int64), ends.astype(np.int64)


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second
