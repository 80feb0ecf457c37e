"""The daily-loss breaker: the trading day's PnL below minus ``limit`` stops new positions.

The trading day is a UTC day starting at ``roll_hour`` UTC (default 0). A fixed UTC hour, not
the broker's "New York close", because the server-time offset moves with US daylight saving
and a limit must not shift by an hour twice a year; set ``roll_hour=21`` (or 22) to roll near
the FX day's end.

The day's PnL is what the worker's magics made since the day began::

    realised since day start + floating now - floating at day start

Realised profit (profit + commission + swap + fee of the day's deals) comes from the terminal's
own deal history, which survives a restart by itself; the floating profit at day start (the
*baseline*) is the one figure only the worker knows, so it is journaled as a ``baseline``
event the first time the worker sees a new day, and replayed at start-up. A worker first
started in the middle of a day takes its baseline then; losses realised earlier that day on
positions opened the day before then count in full (the conservative side).

A new day takes a new baseline; it does not clear a trip — reset is explicit, and a person
should look at what lost the limit before the next day trades.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from serving.risk.breakers import Breaker, BreakerEvent, Now


def trading_day(at: datetime, roll_hour: int = 0) -> date:
    """The trading day ``at`` falls in: UTC days that start at ``roll_hour`` UTC."""
    return (at.astimezone(UTC) - timedelta(hours=roll_hour)).date()


def day_start(day: date, roll_hour: int = 0) -> datetime:
    """When trading day ``day`` began (tz-aware UTC)."""
    return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(hours=roll_hour)


class DailyLossBreaker(Breaker):
    """Trips when the day's PnL reaches ``-limit`` (account currency); ``None`` only measures.

    Args:
        now: the clock.
        limit: the most the worker may lose in one trading day, a positive amount.
        roll_hour: UTC hour at which a trading day starts (0-23).
    """

    def __init__(
        self, now: Now, *, limit: float | None, roll_hour: int = 0, name: str = "daily_loss"
    ) -> None:
        super().__init__(name, now)
        if limit is not None and limit <= 0:
            raise ValueError(f"daily loss limit must be positive, got {limit}")
        if not 0 <= roll_hour < 24:
            raise ValueError(f"roll_hour must be 0-23, got {roll_hour}")
        self.limit, self.roll_hour = limit, roll_hour
        self.day: date | None = None
        self.baseline = 0.0
        self.pnl = 0.0
        # the trading day last looked up: its start, its end and its date; asked twice per
        # bar, looked up again only once the clock leaves it
        self._span: tuple[datetime, datetime, date] | None = None

    def _today(self) -> tuple[datetime, datetime, date]:
        """The current trading day's start, end and date (``trading_day`` of the clock)."""
        now, span = self._now(), self._span
        if span is None or not span[0] <= now < span[1]:
            day = trading_day(now, self.roll_hour)
            start = day_start(day, self.roll_hour)
            span = self._span = (start, start + timedelta(days=1), day)
        return span

    def day_start(self) -> datetime:
        """When the current trading day began: the worker reads realised PnL from here."""
        return self._today()[0]

    def observe(self, realised: float, floating: float) -> float:
        """Today's realised and current floating profit of the worker's magics → the day's
        PnL (also kept in ``pnl``); trips at ``-limit``."""
        day = self._today()[2]
        if day != self.day:
            self.day, self.baseline = day, floating
            self.emit(
                "baseline",
                f"trading day {day} starts with floating PnL {floating:.2f}",
                value=floating,
            )
        self.pnl = realised + floating - self.baseline
        if self.limit is not None and self.pnl <= -self.limit:
            self.trip(
                f"trading day {day}: PnL {self.pnl:.2f} reached the loss limit {self.limit:g}"
            )
        return self.pnl

    def replay(self, event: BreakerEvent) -> None:
        """Trips and resets as any breaker; today's first ``baseline`` becomes the baseline."""
        if event.event != "baseline":
            super().replay(event)
            return
        today = trading_day(self._now(), self.roll_hour)
        if trading_day(event.at, self.roll_hour) == today and self.day != today:
            self.day, self.baseline = today, float(event.value or 0.0)
