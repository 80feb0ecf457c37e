"""Data factories for tests: clean bars in the MT5 rate layout and point-in-time universes.

One place for fixture data (STYLE rule 9) so every layer's tests build bars the same way:
UTC, tz-aware, weekend gaps like the FX market (no bars Fri 22:00 UTC → Sun 22:00 UTC),
OHLC consistent, dtypes exactly as ``data_contracts.schema`` expects, prices on each
symbol's digits from ``data_contracts.symbols``. Three narrower shapes sit beside
``make_bars``, each kept bit for bit because tests compare against its exact output:
``make_replay_bars`` (no weekend gaps, for SimTerminal replays), ``make_bar_arrays``
(unrounded arrays over a sweep of price levels, for feature tests) and ``make_rates``
(``copy_rates_from_pos``' record array, for a model's decide path). Product code that
needs a market uses ``data_contracts.synthetic``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.schema import RATE_COLUMNS, TIMEFRAME_SECONDS
from data_contracts.store import BarStore
from data_contracts.symbols import SYMBOL_SPECS
from data_contracts.synthetic import generate_market, is_fx_weekend
from serving.mt5.types import RATES_DTYPE

DEFAULT_START = datetime(2022, 1, 3, tzinfo=UTC)  # a Monday
Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
BASE_PRICES: dict[str, float] = {
    "EURUSD": 1.13,
    "GBPUSD": 1.35,
    "USDJPY": 115.0,
    "USDCHF": 0.92,
    "AUDUSD": 0.72,
    "XAUUSD": 1800.0,
}


def digits_of(symbol: str) -> int:
    """The symbol's digits from its record; a made-up name (validation tests use many) quotes
    like a 5-digit major."""
    return SYMBOL_SPECS[symbol if symbol in SYMBOL_SPECS else "EURUSD"].digits


def make_times(n: int, *, start: datetime = DEFAULT_START, timeframe: str = "H1") -> pd.Series:
    """The first ``n`` bar open times at or after ``start`` that fall outside the FX weekend."""
    step = pd.Timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    seconds = f"{TIMEFRAME_SECONDS[timeframe]}s"  # a frequency string, as pandas types it
    first = pd.Timestamp(start).tz_convert("UTC").ceil(seconds) if n else pd.Timestamp(start)
    candidates = pd.date_range(first, periods=n * 7 // 5 + 200, freq=step)
    kept = candidates[~is_fx_weekend(candidates)][:n]
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
    vol = 0.0015 * np.sqrt(TIMEFRAME_SECONDS[timeframe] / 3600)
    close = base * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([[base], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol * base * 0.5, (2, n)))
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    digits = digits_of(symbol)
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


def make_replay_bars(
    symbols: tuple[str, ...] = ("EURUSD", "USDJPY"),
    n: int = 200,
    *,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    seed: int = 3,
    step: timedelta = timedelta(hours=1),
) -> dict[str, pd.DataFrame]:
    """Random-walk bars per symbol in the MT5 rate layout, quick to build: no weekend gaps,
    one stream for all symbols (what SimTerminal and worker tests replay; several compare
    against figures of this exact output, so its parameters stay as they are)."""
    rng = np.random.default_rng(seed)
    base = {"USDJPY": 150.0, "USDCHF": 0.9, "GBPUSD": 1.27}
    out = {}
    for symbol in symbols:
        digits = digits_of(symbol)
        p0 = base.get(symbol, 1.1)
        close = p0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
        open_ = np.r_[p0, close[:-1]]
        wiggle = np.abs(rng.normal(0, 0.0005, n)) * p0
        out[symbol] = pd.DataFrame(
            {
                "time": pd.date_range(start, periods=n, freq=step, tz="UTC"),
                "open": open_.round(digits),
                "high": (np.maximum(open_, close) + wiggle).round(digits),
                "low": (np.minimum(open_, close) - wiggle).round(digits),
                "close": close.round(digits),
                "tick_volume": rng.integers(100, 2_000, n).astype("int64"),
                "spread": rng.integers(1, 15, n).astype("int64"),
                "real_volume": np.zeros(n, dtype="int64"),
            }
        )
    return out


def make_bar_arrays(
    n: int,
    seed: int,
    *,
    price: float = 1.1,
    sigma: float = 1e-3,
    flat: float = 0.0,
    volumes: tuple[int, int] = (50, 5_000),
    spreads: tuple[int, int] = (5, 25),
) -> Bars:
    """A random walk as arrays (open, high, low, close, tick_volume, spread), unrounded, for
    feature tests that sweep price level and volatility; ``flat`` is the share of bars that
    do not move (runs of equal closes make the near-constant windows a fallback is for)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, sigma, n) * (rng.random(n) >= flat)
    close = price * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[price], close[:-1]])
    wick = np.abs(rng.normal(0.0, sigma * price, (2, n)))
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    tick_volume = rng.integers(volumes[0], volumes[1] + 1, n).astype(np.float64)
    spread = rng.integers(spreads[0], spreads[1] + 1, n).astype(np.float64)
    return open_, high, low, close, tick_volume, spread


def make_rates(n: int, seed: int, price: float = 1.1) -> np.ndarray:
    """A random-walk bar series in ``copy_rates_from_pos``' layout, hourly."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    rates = np.zeros(n, dtype=RATES_DTYPE)  # what copy_rates_from_pos returns
    rates["time"] = 1_641_168_000 + TIMEFRAME_SECONDS["H1"] * np.arange(n)
    rates["open"] = np.concatenate([[price], close[:-1]])
    wick = np.abs(rng.normal(0.0, 5e-4 * price, (2, n)))
    rates["high"] = np.maximum(rates["open"], close) + wick[0]
    rates["low"] = np.minimum(rates["open"], close) - wick[1]
    rates["close"] = close
    rates["tick_volume"] = rng.integers(50, 5_000, n)
    rates["spread"] = rng.integers(5, 25, n)
    return rates


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


def make_globex_times(
    start: str, end: str, closed: Sequence[tuple[str, str]] = (), *, timeframe: str = "H1"
) -> pd.Series:
    """Bar open times (UTC) a CME Globex index CFD shows from ``start`` to ``end`` (Chicago dates).

    Written from CME's published hours, independently of exchange-calendars, so tests can
    check the library's reading against it: Sunday 17:00 → Friday 16:00 Chicago with the daily
    halt 16:00–17:00, minus the holiday spans ``closed`` (Chicago wall-clock ``[from, to)``).
    """
    step = pd.Timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    local = pd.date_range(start, end, freq=step, tz="America/Chicago", inclusive="left")
    day, hour = local.weekday, local.hour
    open_ = ((day == 6) & (hour >= 17)) | ((day <= 3) & (hour != 16)) | ((day == 4) & (hour < 16))
    naive = local.tz_localize(None)
    for since, until in closed:
        open_ &= ~((naive >= pd.Timestamp(since)) & (naive < pd.Timestamp(until)))
    return pd.Series(local[open_].tz_convert("UTC").as_unit("ns"), name="time")


def make_bars_at(symbol: str, times: pd.Series) -> pd.DataFrame:
    """``make_bars``' clean bars for ``symbol``, stamped with the given (UTC) times."""
    bars = make_bars(symbol, n=len(times))
    bars["time"] = pd.Series(times.to_numpy(), dtype=bars["time"].dtype)
    return bars


def write_small_market(home: Path) -> None:
    """Twenty days of EURUSD and GBPUSD H1 bars and their universe in ``home``'s bar store:
    enough for a worker to replay, as a user's home after `tate ingest`."""
    market = generate_market(n_days=20, symbols=("EURUSD", "GBPUSD"), delisted=None)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
