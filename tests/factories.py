"""Data factories for tests: clean bars in the MT5 rate layout and point-in-time universes.

One place for fixture data (STYLE rule 9) so every layer's tests build bars the same way:
UTC, tz-aware, weekend gaps like the FX market (no bars Fri 22:00 UTC → Sun 22:00 UTC),
OHLC consistent, dtypes exactly as ``data_contracts.schema`` expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources

import numpy as np
import pandas as pd

from data_contracts.schema import RATE_COLUMNS, TIMEFRAME_SECONDS

DEFAULT_START = datetime(2022, 1, 3, tzinfo=UTC)  # a Monday
BASE_PRICES: dict[str, float] = {
    "EURUSD": 1.13,
    "GBPUSD": 1.35,
    "USDJPY": 115.0,
    "USDCHF": 0.92,
    "AUDUSD": 0.72,
    "XAUUSD": 1800.0,
}
POINTS: dict[str, float] = {"USDJPY": 0.001, "XAUUSD": 0.01}


def is_weekend(times: pd.DatetimeIndex) -> np.ndarray:
    """True for times inside the FX weekend (Fri 22:00 UTC up to Sun 22:00 UTC)."""
    dow = times.dayofweek
    hour = times.hour
    return np.asarray(((dow == 4) & (hour >= 22)) | (dow == 5) | ((dow == 6) & (hour < 22)))


def make_times(n: int, *, start: datetime = DEFAULT_START, timeframe: str = "H1") -> pd.Series:
    """The first ``n`` bar open times at or after ``start`` that fall outside the FX weekend."""
    step = pd.Timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    first = pd.Timestamp(start).tz_convert("UTC").ceil(step) if n else pd.Timestamp(start)
    candidates = pd.date_range(first, periods=n * 7 // 5 + 200, freq=step)
    kept = candidates[~is_weekend(candidates)][:n]
    return pd.Series(kept.as_unit("ns"), name="time")


def make_bars(
    symbol: str = "EURUSD",
    n: int = 500,
    start: datetime = DEFAULT_START,
    timeframe: str = "H1",
    seed: int = 0,
) -> pd.DataFrame:
    """Clean bars for ``symbol``: a seeded random walk, valid OHLC, MT5 rate dtypes.

    The seed is mixed with the symbol name so a multi-symbol set is not perfectly correlated.
    """
    rng = np.random.default_rng([seed, *symbol.encode()])
    base = BASE_PRICES.get(symbol, 1.0)
    point = POINTS.get(symbol, 0.00001)
    vol = 0.0015 * np.sqrt(TIMEFRAME_SECONDS[timeframe] / 3600)
    close = base * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([[base], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol * base * 0.5, (2, n)))
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    digits = round(-np.log10(point))
    return pd.DataFrame(
        {
            "time": make_times(n, start=start, timeframe=timeframe),
            "open": np.round(open_, digits),
            "high": np.round(high, digits),
            "low": np.round(low, digits),
            "close": np.round(close, digits),
            "tick_volume": rng.integers(50, 5000, n).astype("int64"),
            "spread": rng.integers(0, 20, n).astype("int64"),
            "real_volume": np.zeros(n, dtype="int64"),
        }
    ).pipe(_fix_rounding)[list(RATE_COLUMNS)]


def _fix_rounding(bars: pd.DataFrame) -> pd.DataFrame:
    """Rounding to digits can break high >= max(open, close); restore the OHLC invariant."""
    bars["high"] = bars[["open", "high", "close"]].max(axis=1)
    bars["low"] = bars[["open", "low", "close"]].min(axis=1)
    return bars


def make_universe(
    symbols: Sequence[str] = ("EURUSD", "GBPUSD"),
    *,
    listed_from: datetime = DEFAULT_START,
    delisted: Mapping[str, datetime] | None = None,
) -> pd.DataFrame:
    """A point-in-time universe frame: ``symbol, listed_from, delisted_at`` (NaT when listed)."""
    delisted = dict(delisted or {})
    return pd.DataFrame(
        {
            "symbol": pd.Series(list(symbols), dtype="object"),
            "listed_from": pd.Series(
                [pd.Timestamp(listed_from)] * len(symbols), dtype="datetime64[ns, UTC]"
            ),
            "delisted_at": pd.Series(
                [pd.Timestamp(delisted[s]) if s in delisted else pd.NaT for s in symbols],
                dtype="datetime64[ns, UTC]",
            ),
        }
    )


def make_bars_set(
    symbols: Sequence[str] = ("EURUSD", "GBPUSD"),
    *,
    n: int = 500,
    start: datetime = DEFAULT_START,
    timeframe: str = "H1",
    seed: int = 0,
    delisted: Mapping[str, datetime] | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Bars per symbol plus a matching universe; delisted symbols' bars stop before delisting."""
    delisted = dict(delisted or {})
    bars: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        frame = make_bars(symbol, n=n, start=start, timeframe=timeframe, seed=seed)
        if symbol in delisted:
            frame = frame[frame["time"] < pd.Timestamp(delisted[symbol])].reset_index(drop=True)
        bars[symbol] = frame
    return bars, make_universe(symbols, listed_from=start, delisted=delisted)


def load_backtesting_eurusd() -> pd.DataFrame:
    """Real hourly EURUSD bars (2017-04 → 2018-02) shipped with the ``backtesting`` package.

    The file's naive times are taken as UTC; ``tick_volume`` is its ``Volume``; spread and real
    volume are 0 (the file has neither). Real data catches what clean synthetic bars cannot.
    """
    source = resources.files("backtesting") / "test" / "EURUSD.csv"
    with resources.as_file(source) as path:
        raw = pd.read_csv(path, index_col=0, parse_dates=True)
    n = len(raw)
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex(raw.index).tz_localize("UTC").as_unit("ns"),
            "open": raw["Open"].to_numpy("float64"),
            "high": raw["High"].to_numpy("float64"),
            "low": raw["Low"].to_numpy("float64"),
            "close": raw["Close"].to_numpy("float64"),
            "tick_volume": raw["Volume"].to_numpy("int64"),
            "spread": np.zeros(n, dtype="int64"),
            "real_volume": np.zeros(n, dtype="int64"),
        }
    )
