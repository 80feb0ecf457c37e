"""Rates as `copy_rates_*` returns them (numpy structured arrays, server time) → store bars (UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_contracts.schema import RATE_COLUMNS, coerce_bars
from data_contracts.server_time import server_to_utc


def rates_to_bars(rates: np.ndarray, *, server_time: str, source: str) -> pd.DataFrame:
    """Convert a terminal's rates array to bars in the store's layout with UTC times.

    `time` in the array is epoch seconds of the broker's *server* wall clock; `server_time` says
    which clock that is ("UTC" for SimTerminal, typically "NY+7" for a live broker).
    """
    frame = pd.DataFrame({name: rates[name] for name in RATE_COLUMNS})
    wall = pd.Series(pd.to_datetime(frame["time"].to_numpy(np.int64), unit="s"))
    frame["time"] = server_to_utc(wall, server_time).set_axis(frame.index)
    return coerce_bars(frame, source=source)
