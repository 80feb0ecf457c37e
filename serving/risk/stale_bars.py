"""The stale-bars breaker: no new closed bar for ``factor`` × the timeframe while prices move.

A frozen feed (history not syncing, a stuck bridge) looks like a quiet market to a model: it
keeps deciding on the same bar. What tells the two apart is the quote: while bid and ask keep
moving the market is open, so closed bars must keep coming. (The quote, not the tick's time:
a SimTerminal stamps every symbol's tick with the replay's time, a delisted one's included,
but only a trading symbol's price moves.)

Durations are measured on the worker's clock from the moment a bar or a quote was first *seen
to change*, never by subtracting the terminal's timestamps from the clock: MT5 stamps bars and
ticks in the broker's server time (often UTC+2/+3), and a weekend gap ends with a legitimately
old closed bar. So:
- a symbol whose quote has not changed for ``quiet`` counts as closed (weekend, holiday, a
  delisted symbol) and its staleness clock stops;
- once the quote moves again the clock restarts, and the next closed bar must arrive within
  ``factor`` × timeframe.
A feed dead for quotes *and* bars reads as a closed market here: without a session calendar
nothing tells it from a holiday (``last_bar_timestamp_seconds`` on a dashboard does).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta

from serving.risk.breakers import Breaker, Now


class StaleBarBreaker(Breaker):
    """Trips when a symbol's newest closed bar stops changing while its quote still moves.

    Args:
        now: the clock.
        timeframe: the bars' period.
        factor: how many periods without a new closed bar trip it.
        quiet: a quote unchanged this long means the market is closed (default: one period,
            at least five minutes).
    """

    def __init__(
        self,
        now: Now,
        timeframe: timedelta,
        *,
        factor: float = 3.0,
        quiet: timedelta | None = None,
        name: str = "stale_bars",
    ) -> None:
        super().__init__(name, now)
        self.timeframe, self.factor = timeframe, factor
        self.limit = timeframe * factor
        self.quiet = quiet or max(timeframe, timedelta(minutes=5))
        if self.quiet >= self.limit:
            raise ValueError(f"quiet {self.quiet} must be shorter than the limit {self.limit}")
        self._bar: dict[str, Hashable] = {}
        self._quote: dict[str, tuple[Hashable, datetime]] = {}
        self._since: dict[str, datetime] = {}

    def observe(self, symbol: str, bar: Hashable | None, quote: Hashable | None) -> None:
        """The symbol's newest closed bar (its time; None when the terminal has none) and its
        latest quote (e.g. ``(bid, ask)``; None when there is none) as seen now."""
        now = self._now()
        if not self._market_open(symbol, quote, now):
            self._since.pop(symbol, None)
            return
        if bar is not None and self._bar.get(symbol) != bar:
            self._bar[symbol] = bar
            self._since[symbol] = now
            return
        since = self._since.setdefault(symbol, now)
        if now - since > self.limit:
            what = "no closed bars at all" if bar is None else "no new closed bar"
            self.trip(
                f"{symbol}: {what} for {now - since} (> {self.factor:g} x {self.timeframe}) "
                f"while the quote moves"
            )

    def _market_open(self, symbol: str, quote: Hashable | None, now: datetime) -> bool:
        if quote is None:
            self._quote.pop(symbol, None)
            return False
        last = self._quote.get(symbol)
        if last is None or last[0] != quote:
            self._quote[symbol] = (quote, now)
            return True
        return now - last[1] <= self.quiet

    def _clear(self) -> None:
        self._since.clear()
