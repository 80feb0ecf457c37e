"""A synthetic FX market in MT5's rate layout, for demos and tests that need the whole lifecycle.

Real tick data is not redistributable, yet every stage (validation, training, serving, drift)
needs bars with the quirks that bite in production. This generator gives them, deterministic
from a seed: bid prices rounded to each symbol's digits, spreads in points that widen at the
daily rollover, tick volume (and ``real_volume`` 0, as FX venues report), weekend gaps, a symbol
delisted half way (its bars stop; the universe says when), a weak momentum signal a model can
learn, and a late regime change (volatility and spreads jump, momentum flips to reversal) that
drift monitoring has to catch.

Returns follow ``r_t = sigma_t * (z_t + beta_t * s_t)`` where ``s_t`` is a unit-variance
exponential average of *past* shocks: with ``beta > 0`` recent moves tend to continue, which
is the learnable signal; after the regime change ``beta`` turns negative.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from data_contracts.schema import RATE_COLUMNS, TIMEFRAME_SECONDS
from data_contracts.symbols import lookup_spec


@dataclass(frozen=True)
class MarketTraits:
    """How a synthetic symbol trades: price level, typical spread in points, hourly
    volatility and activity. (What the symbol *is*, its point and digits, is its record in
    ``data_contracts.symbols``.)"""

    price: float
    spread_points: float
    hourly_vol: float
    tick_volume: float


MARKET_TRAITS: dict[str, MarketTraits] = {
    "EURUSD": MarketTraits(1.1300, 12.0, 0.0010, 2500.0),
    "GBPUSD": MarketTraits(1.3500, 16.0, 0.0012, 2200.0),
    "USDJPY": MarketTraits(115.00, 14.0, 0.0011, 2300.0),
    "USDCHF": MarketTraits(0.9200, 17.0, 0.0010, 1500.0),
    "AUDUSD": MarketTraits(0.7200, 14.0, 0.0011, 1800.0),
    "USDCAD": MarketTraits(1.2700, 18.0, 0.0009, 1700.0),
}
DEFAULT_START = datetime(2022, 1, 3, tzinfo=UTC)
REGIME_CHANGE_FRACTION = 0.87
DELIST_FRACTION = 0.5

# Signal and regime parameters, calibrated so the slice's model reaches an out-of-fold AUC
# in [0.52, 0.60] (and ~0.50 on shuffled labels); see tests/model/.
SIGNAL_MEMORY = 0.92  # EMA coefficient per hour of the past shocks that drive the drift
SIGNAL_BETA = 0.12
POST_REGIME_BETA = -0.25
POST_REGIME_VOL = 1.8
POST_REGIME_SPREAD = 2.2
VOL_OF_VOL = 0.02  # per-hour shock of the log-volatility AR(1)
VOL_MEMORY = 0.995


@dataclass(frozen=True)
class SyntheticMarket:
    """Bars per symbol, the point-in-time universe, and when the regime changed."""

    bars: dict[str, pd.DataFrame]
    universe: pd.DataFrame
    regime_change_at: datetime
    points: dict[str, float]


def traits_for(symbol: str) -> MarketTraits:
    """Traits of a listed symbol, or plausible ones (a yen price level for JPY quotes).

    Raises:
        UnknownSymbolSpecError: no record for ``symbol`` in ``data_contracts.symbols``.
    """
    if symbol in MARKET_TRAITS:
        return MARKET_TRAITS[symbol]
    if lookup_spec(symbol).currency_profit == "JPY":
        return MarketTraits(100.0, 18.0, 0.0011, 1500.0)
    return MarketTraits(1.0, 18.0, 0.0010, 1500.0)


def is_fx_weekend(times: pd.DatetimeIndex) -> NDArray[np.bool_]:
    """True for times inside the FX weekend (Fri 22:00 UTC up to Sun 22:00 UTC)."""
    dow, hour = times.dayofweek, times.hour
    weekend = ((dow == 4) & (hour >= 22)) | (dow == 5) | ((dow == 6) & (hour < 22))
    return np.asarray(weekend, dtype=np.bool_)


def trading_times(start: datetime, n_days: int, timeframe: str) -> pd.DatetimeIndex:
    """Bar open times over ``n_days`` outside the FX weekend (Fri 22:00 → Sun 22:00 UTC)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    step = pd.Timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    first = pd.Timestamp(start).tz_convert("UTC")
    times = pd.date_range(first, first + pd.Timedelta(days=n_days), freq=step, inclusive="left")
    return times[~is_fx_weekend(times)].as_unit("ns")


def _session_activity(hours: np.ndarray) -> np.ndarray:
    """Relative activity by UTC hour: quiet Asia, busy London/New York overlap."""
    base = np.full(24, 0.7)
    base[7:16] = 1.15
    base[12:16] = 1.35
    base[21:23] = 0.55
    activity: np.ndarray = base[hours]
    return activity


def _simulate_symbol(
    symbol: str,
    times: pd.DatetimeIndex,
    regime_at: pd.Timestamp,
    seed: int,
    timeframe: str,
) -> pd.DataFrame:
    # scipy.signal takes seconds to import; the worker and `tate promote` import this module
    # (through serving.registry.loading) without generating a market
    from scipy.signal import lfilter

    traits = traits_for(symbol)
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    n = len(times)
    scale = np.sqrt(TIMEFRAME_SECONDS[timeframe] / 3600.0)
    post = np.asarray(times >= regime_at)
    hours = np.asarray(times.hour)
    activity = _session_activity(hours)

    log_vol_noise = lfilter([VOL_OF_VOL], [1.0, -VOL_MEMORY], rng.standard_normal(n))
    sigma = traits.hourly_vol * scale * activity * np.exp(log_vol_noise)
    sigma = np.where(post, sigma * POST_REGIME_VOL, sigma)

    z = rng.standard_normal(n)
    # EMA of past shocks only (the leading 0 delays it by one bar), scaled to unit variance.
    memory = SIGNAL_MEMORY ** (1.0 / scale)
    ema = lfilter([0.0, 1.0 - memory], [1.0, -memory], z)
    drift_signal = ema / np.sqrt((1.0 - memory) / (1.0 + memory))
    beta = np.where(post, POST_REGIME_BETA, SIGNAL_BETA)
    intrabar = sigma * (z + beta * drift_signal)

    gap = np.zeros(n)
    stamps = times.asi8  # type: ignore[attr-defined]  # pandas-stubs lack DatetimeIndex.asi8
    after_gap = np.diff(stamps, prepend=stamps[0]) > TIMEFRAME_SECONDS[timeframe] * 1e9
    gap[after_gap] = 3.0 * sigma[after_gap] * rng.standard_normal(int(after_gap.sum()))

    log_close = np.log(traits.price) + np.cumsum(gap + intrabar)
    log_open = np.concatenate([[np.log(traits.price)], log_close[:-1]]) + gap
    return bar_frame(symbol, times, log_open, log_close, sigma, post, scale, rng)


def bar_frame(
    symbol: str,
    times: pd.DatetimeIndex,
    log_open: NDArray[np.float64],
    log_close: NDArray[np.float64],
    sigma: NDArray[np.float64],
    post: NDArray[np.bool_],
    scale: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Bars in MT5's rate layout from log open and close paths: wicks, spreads and tick volume
    drawn from ``rng`` in one order, so the stored market and its live continuation
    (``data_contracts.synthetic_live``) build bars the same way."""
    spec, traits = lookup_spec(symbol), traits_for(symbol)
    n, hours = len(times), np.asarray(times.hour)
    activity = _session_activity(hours)
    wick = sigma * 0.6
    log_high = np.maximum(log_open, log_close) + wick * np.abs(rng.standard_normal(n))
    log_low = np.minimum(log_open, log_close) - wick * np.abs(rng.standard_normal(n))
    digits = spec.digits

    spread = traits.spread_points * np.exp(0.25 * rng.standard_normal(n))
    spread = spread * np.where(np.isin(hours, (21, 22)), 2.5, 1.0)
    spread = np.where(post, spread * POST_REGIME_SPREAD, spread)
    tick_volume = traits.tick_volume * scale**2 * activity * (sigma / (traits.hourly_vol * scale))
    tick_volume = tick_volume * np.exp(0.3 * rng.standard_normal(n))

    frame = pd.DataFrame(
        {
            "time": times,
            "open": np.round(np.exp(log_open), digits),
            "high": np.round(np.exp(log_high), digits),
            "low": np.round(np.exp(log_low), digits),
            "close": np.round(np.exp(log_close), digits),
            "tick_volume": np.maximum(np.round(tick_volume), 1).astype(np.int64),
            "spread": np.maximum(np.round(spread), 1).astype(np.int64),
            "real_volume": np.zeros(n, dtype=np.int64),
        }
    )
    return frame.loc[:, list(RATE_COLUMNS)]


def generate_market(
    *,
    seed: int = 7,
    symbols: tuple[str, ...] = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF"),
    delisted: str | None = "USDCHF",
    start: datetime = DEFAULT_START,
    n_days: int = 560,
    timeframe: str = "H1",
) -> SyntheticMarket:
    """Generate a deterministic multi-symbol market; see the module docstring for its traits.

    Args:
        seed: same seed, same bars (each symbol draws from its own stream keyed by its name,
            so adding a symbol does not change the others).
        delisted: symbol whose bars stop half way (``None`` for none); the universe records
            ``delisted_at`` as the open time of its first missing bar.

    Raises:
        ValueError: naive ``start``, unknown timeframe, or ``delisted`` not in ``symbols``.
    """
    if timeframe not in TIMEFRAME_SECONDS:
        raise ValueError(
            f"unknown timeframe {timeframe!r}; expected one of {list(TIMEFRAME_SECONDS)}"
        )
    if delisted is not None and delisted not in symbols:
        raise ValueError(f"delisted symbol {delisted!r} is not among {symbols}")
    times = trading_times(start, n_days, timeframe)
    if len(times) < 10:
        raise ValueError(f"n_days={n_days} gives only {len(times)} bars of {timeframe}")
    regime_at = times[int(len(times) * REGIME_CHANGE_FRACTION)]
    delist_at = times[int(len(times) * DELIST_FRACTION)]

    bars: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        frame = _simulate_symbol(symbol, times, regime_at, seed, timeframe)
        if symbol == delisted:
            frame = frame.loc[frame["time"] < delist_at].reset_index(drop=True)
        bars[symbol] = frame

    first = pd.Timestamp(start).tz_convert("UTC").as_unit("ns")
    universe = pd.DataFrame(
        {
            "symbol": list(symbols),
            "listed_from": pd.Series([first] * len(symbols), dtype="datetime64[ns, UTC]"),
            "delisted_at": pd.Series(
                [delist_at if s == delisted else pd.NaT for s in symbols],
                dtype="datetime64[ns, UTC]",
            ),
        }
    )
    return SyntheticMarket(
        bars=bars,
        universe=universe,
        regime_change_at=regime_at.to_pydatetime(),
        points={symbol: lookup_spec(symbol).point for symbol in symbols},
    )


MARKET_NOTE = "synthetic_market.json"
"""File beside the bars of a store filled from this generator: what a report must tell a reader."""


def write_market_note(data_dir: Path, market: SyntheticMarket, *, seed: int) -> Path:
    """Record in the store that its bars are synthetic and when the planted regime change is.

    A drift report on these bars flags the planted change by design; without this note a reader
    of a fresh demo sees "drift FLAGGED" and cannot tell a planted change from a real one.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / MARKET_NOTE
    note = {
        "generator": "data_contracts.synthetic.generate_market",
        "seed": seed,
        "symbols": sorted(market.bars),
        "regime_change_at": market.regime_change_at.isoformat(),
    }
    path.write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return path


def planted_regime_change(data_dir: Path) -> datetime | None:
    """When the store's synthetic market changes regime; None for a store of real bars."""
    path = data_dir / MARKET_NOTE
    if not path.is_file():
        return None
    try:
        when = datetime.fromisoformat(
            json.loads(path.read_text(encoding="utf-8"))["regime_change_at"]
        )
    except (ValueError, KeyError, TypeError):
        return None
    return when if when.tzinfo is not None else None
