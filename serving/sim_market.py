"""The replay clock behind SimTerminal: merged bar timeline, cursor, what is visible now.

Visibility is where look-ahead bugs hide, so it lives in one small place: at any moment the
terminal shows every bar up to the cursor, and the bar at the cursor is *forming* — only its
opening tick is known (open = high = low = close, tick_volume 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from serving.mt5_types import RATES_DTYPE


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
    for name in RATES_DTYPE.names[1:]:
        out[name] = bars[name].to_numpy()
    return out


class Replay:
    """Bars of several symbols on one merged timeline with a cursor on the forming bar."""

    def __init__(self, bars: Mapping[str, pd.DataFrame], start: int | datetime = 0) -> None:
        self.rates = {s: to_rates(df) for s, df in bars.items()}
        self.timeline = np.unique(np.concatenate([r["time"] for r in self.rates.values()]))
        if isinstance(start, datetime):
            self.cursor = int(np.searchsorted(self.timeline, to_epoch(start)))
        else:
            self.cursor = start
        if not 0 <= self.cursor < len(self.timeline):
            raise ValueError(f"start {start!r} outside the {len(self.timeline)} bars of the replay")

    @property
    def now(self) -> int:
        """Open time (epoch s) of the bar forming now."""
        return int(self.timeline[self.cursor])

    def advance(self) -> bool:
        """Close the forming bar and open the next one; False when the replay is over."""
        if self.cursor + 1 >= len(self.timeline):
            return False
        self.cursor += 1
        return True

    def last_index(self, symbol: str) -> int:
        """Index of the symbol's latest bar at or before now (-1 before its first bar)."""
        return int(np.searchsorted(self.rates[symbol]["time"], self.now, side="right")) - 1

    def is_open(self, symbol: str) -> bool:
        """A symbol trades now when it has a bar forming now (no bar: weekend, delisted)."""
        k = self.last_index(symbol)
        return k >= 0 and int(self.rates[symbol]["time"][k]) == self.now

    def visible(self, symbol: str) -> np.ndarray:
        """All bars up to now, the forming one reduced to its opening tick."""
        k = self.last_index(symbol)
        rates = self.rates[symbol][: k + 1].copy()
        if k >= 0 and self.is_open(symbol):
            row = rates[-1]
            row["high"] = row["low"] = row["close"] = row["open"]
            row["tick_volume"], row["real_volume"] = 1, 0
        return rates

    def last_closed(self, symbol: str) -> np.void | None:
        """The symbol's last closed bar now (None before it has one)."""
        k = self.last_index(symbol) - (1 if self.is_open(symbol) else 0)
        return self.rates[symbol][k] if k >= 0 else None

    def price(self, symbol: str) -> tuple[float, int]:
        """(bid, spread in points) now: the forming bar's open, else the last close."""
        row = self.rates[symbol][max(self.last_index(symbol), 0)]
        bid = float(row["open"] if self.is_open(symbol) else row["close"])
        return bid, int(row["spread"])
