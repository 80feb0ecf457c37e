"""The replay clock behind SimTerminal: merged bar timeline, cursor, what is visible now.

Visibility is where look-ahead bugs hide, so it lives in one small place: at any moment the
terminal shows every bar up to the cursor, and the bar at the cursor is *forming* — only its
opening tick is known (open = high = low = close, tick_volume 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd

from serving.mt5.types import RATES_DTYPE, RATES_FIELDS


def to_epoch(value: datetime | int | float) -> int:
    """MT5 accepts datetimes or epoch seconds; naive datetimes are read as UTC."""
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return int(value)


def history_window(
    date_from: datetime | int | None,
    date_to: datetime | int | None,
    ticket: int | None,
    position: int | None,
) -> tuple[int, int]:
    """The epoch range a ``history_*_get`` call asks for; a ticket or position alone: all."""
    if date_from is None or date_to is None:
        if ticket is None and position is None:
            raise TypeError("history_*_get needs date_from and date_to, ticket or position")
        return -(2**62), 2**62
    return to_epoch(date_from), to_epoch(date_to)


def to_rates(bars: pd.DataFrame) -> np.ndarray:
    """Bars in the MT5 rate layout (tz-aware ``time``) → the terminal's structured array."""
    out = np.empty(len(bars), dtype=RATES_DTYPE)
    out["time"] = bars["time"].dt.tz_convert("UTC").dt.as_unit("s").astype("int64").to_numpy()
    for name in RATES_FIELDS[1:]:
        out[name] = bars[name].to_numpy()
    return out


_ROW = RATES_DTYPE.itemsize


def _flat_bytes(rates: np.ndarray) -> memoryview:
    """The rates' memory as one flat run of bytes (``_ROW`` a bar), to copy bars from."""
    return rates.data.cast("B")


def _quoted_columns(rates: np.ndarray) -> tuple[list[float], list[float], list[int]]:
    """The rates' open, close and spread as Python numbers (the floats and ints ``float()``
    and ``int()`` make of their elements): a quote reads one of each per symbol and bar, a
    list look-up instead of a numpy row and its fields. Rates only ever get appended, and
    so do these (``Replay._extend``)."""
    return rates["open"].tolist(), rates["close"].tolist(), rates["spread"].tolist()


class MarketFeed(Protocol):
    """Where a replay's market goes on after its last bar (``data_contracts.synthetic_live``)."""

    def next_chunk(self) -> Mapping[str, pd.DataFrame]:
        """The next bars per symbol, all later than any bar given before (empty: no more)."""
        ...


class Replay:
    """Bars of several symbols on one merged timeline with a cursor on the forming bar.

    Where each symbol stands at every point of the timeline (its latest bar, and whether
    that bar is forming) is worked out once, vectorized, when the replay is built (and for
    each chunk a ``feed`` adds); what the terminal asks per call is then a list look-up, and a
    quote is computed once per bar.

    With a ``feed``, the replay does not end at its last bar: ``advance()`` there asks the feed
    for the next chunk and carries on (a simulated live market after the hold-out). Bars only
    ever get appended, so every index handed out before stays valid.
    """

    cursor: int
    now: int

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame],
        start: int | datetime = 0,
        feed: MarketFeed | None = None,
    ) -> None:
        self.feed = feed
        self.rates = {s: to_rates(df) for s, df in bars.items()}
        # the same memory as flat bytes: a window copied from those is one memcpy, several
        # times faster than numpy's field-by-field copy of a structured array's slice
        self._bytes = {s: _flat_bytes(r) for s, r in self.rates.items()}
        self._quoted = {s: _quoted_columns(r) for s, r in self.rates.items()}
        self.timeline = np.unique(np.concatenate([r["time"] for r in self.rates.values()]))
        if isinstance(start, datetime):
            cursor = int(np.searchsorted(self.timeline, to_epoch(start)))
        else:
            cursor = start
        if not 0 <= cursor < len(self.timeline):
            raise ValueError(f"start {start!r} outside the {len(self.timeline)} bars of the replay")
        self._last: dict[str, list[int]] = {}
        self._open: dict[str, list[bool]] = {}
        for symbol, rates in self.rates.items():
            last = np.searchsorted(rates["time"], self.timeline, side="right") - 1
            forming = (last >= 0) & (rates["time"][np.maximum(last, 0)] == self.timeline)
            self._last[symbol], self._open[symbol] = last.tolist(), forming.tolist()
        self._move_to(cursor)

    def _move_to(self, cursor: int) -> None:
        """Put the forming bar at ``cursor``. ``cursor`` (index into the timeline of the bar
        forming now) and ``now`` (its open time, epoch s) are plain attributes, read many times
        per bar: read them, never set them."""
        self.cursor = cursor
        self.now = int(self.timeline[cursor])

    def advance(self) -> bool:
        """Close the forming bar and open the next one; False when the replay is over."""
        if self.cursor + 1 >= len(self.timeline) and not self._extend():
            return False
        self._move_to(self.cursor + 1)
        return True

    def _extend(self) -> bool:
        """Append the feed's next chunk to the symbols it continues; False when there is none."""
        chunk = {s: to_rates(f) for s, f in (self.feed.next_chunk() if self.feed else {}).items()}
        chunk = {s: r for s, r in chunk.items() if s in self.rates and len(r)}
        if not chunk:
            return False
        times = np.unique(np.concatenate([r["time"] for r in chunk.values()]))
        times = times[times > self.timeline[-1]]
        if not len(times):
            return False
        for symbol, rates in chunk.items():
            rates = rates[rates["time"] > self.rates[symbol]["time"][-1]]
            joined = np.concatenate([self.rates[symbol], rates])
            self.rates[symbol] = joined
            self._bytes[symbol] = _flat_bytes(joined)
            opens, closes, spreads = self._quoted[symbol]
            more_opens, more_closes, more_spreads = _quoted_columns(rates)
            opens += more_opens
            closes += more_closes
            spreads += more_spreads
        self.timeline = np.concatenate([self.timeline, times])
        for symbol, rates in self.rates.items():
            last = np.searchsorted(rates["time"], times, side="right") - 1
            forming = (last >= 0) & (rates["time"][np.maximum(last, 0)] == times)
            self._last[symbol].extend(last.tolist())
            self._open[symbol].extend(forming.tolist())
        return True

    def is_open(self, symbol: str) -> bool:
        """A symbol trades now when it has a bar forming now (no bar: weekend, delisted)."""
        return self._open[symbol][self.cursor]

    def shown(self, symbol: str, lo: int, hi: int) -> np.ndarray:
        """Bars ``lo`` to ``hi - 1`` (``>= 0``) of those visible now, as a fresh array, the
        forming one reduced to its opening tick: ``visible(symbol)[lo:hi]`` without copying
        the whole history first."""
        k = self._last[symbol][self.cursor]
        hi = hi if hi <= k else k + 1
        lo = lo if lo < hi else hi
        rates = np.empty(hi - lo, dtype=RATES_DTYPE)
        rates.data.cast("B")[:] = self._bytes[symbol][lo * _ROW : hi * _ROW]
        if lo <= k < hi and self._open[symbol][self.cursor]:
            row = rates[k - lo]
            row["high"] = row["low"] = row["close"] = row["open"]
            row["tick_volume"], row["real_volume"] = 1, 0
        return rates

    def from_pos(self, symbol: str, start_pos: int, count: int) -> np.ndarray:
        """``copy_rates_from_pos``: ``count`` bars ending ``start_pos`` bars before the
        latest (0: the forming one), fewer where the history is shorter."""
        end = self._last[symbol][self.cursor] + 1 - start_pos
        if start_pos < 1 or end < 1:  # the forming bar shown, or no bar: ``shown`` sees to it
            return self.shown(symbol, end - count if end > count else 0, end if end > 0 else 0)
        # closed bars alone (the worker's every ask): ``shown``'s copy without its checks
        lo = end - count if end > count else 0
        lo = lo if lo < end else end
        rates = np.empty(end - lo, dtype=RATES_DTYPE)
        rates.data.cast("B")[:] = self._bytes[symbol][lo * _ROW : end * _ROW]
        return rates

    def visible_times(self, symbol: str) -> np.ndarray:
        """Open times of the bars visible now (a view: read it, do not write it)."""
        return self.rates[symbol]["time"][: self._last[symbol][self.cursor] + 1]

    def visible(self, symbol: str) -> np.ndarray:
        """All bars up to now, the forming one reduced to its opening tick."""
        return self.shown(symbol, 0, self._last[symbol][self.cursor] + 1)

    def last_closed_index(self, symbol: str) -> int:
        """Index of the symbol's last closed bar now (-1 before it has one)."""
        cursor = self.cursor
        return self._last[symbol][cursor] - (1 if self._open[symbol][cursor] else 0)

    def last_closed(self, symbol: str) -> np.void | None:
        """The symbol's last closed bar now (None before it has one)."""
        k = self.last_closed_index(symbol)
        return self.rates[symbol][k] if k >= 0 else None

    def price(self, symbol: str) -> tuple[float, int]:
        """(bid, spread in points) now: the forming bar's open, else the last close."""
        cursor = self.cursor
        row = self._last[symbol][cursor]
        row = row if row > 0 else 0
        opens, closes, spreads = self._quoted[symbol]
        return (opens[row] if self._open[symbol][cursor] else closes[row]), spreads[row]
