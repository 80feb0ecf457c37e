"""A simulated live market: the synthetic market's model carried on past the last stored bar.

Under `tate up` the simulated worker replays the champion's hold-out and then has no bars left;
a desk's demo should keep trading. ``LiveMarket`` generates the bars that come next, on demand
and in chunks, with the same model as ``data_contracts.synthetic`` (the same return equation,
volatility process, session activity, weekend gaps, spreads and tick volume), continuing from
what the store shows: each symbol's last close and bar time, its regime (read off the spreads,
which the regime change widens by ``POST_REGIME_SPREAD``), its volatility level and its momentum
state (both estimated from the recent bars). Given the same stored bars and seed, the same bars
come out, whatever reads them and however often.

These bars are never written anywhere: validation and training read the bar store, and a
market made up on the fly must not become their evidence. The caller keeps them in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from data_contracts.schema import TIMEFRAME_SECONDS
from data_contracts.synthetic import (
    POST_REGIME_BETA,
    POST_REGIME_SPREAD,
    POST_REGIME_VOL,
    SIGNAL_BETA,
    SIGNAL_MEMORY,
    VOL_MEMORY,
    VOL_OF_VOL,
    _session_activity,
    bar_frame,
    trading_times,
    traits_for,
)

CHUNK_BARS = 256
RECENT_BARS = 240  # bars read back to estimate the volatility level and the momentum state
LIVE_STREAM = 0x11FE  # keeps the live draws apart from the stored market's stream of a seed
STATE_BOUNDS = 0.6  # |log volatility level| estimated from recent bars is kept within this


@dataclass
class _SymbolState:
    log_close: float
    vol_state: float  # lfilter state of the log-volatility AR(1)
    ema_state: float  # lfilter state of the EMA of past shocks: the next bar's EMA
    post: bool
    rng: np.random.Generator


def is_post_regime(bars: pd.DataFrame, symbol: str) -> bool:
    """Whether the recent bars trade in the regime after the change: their typical spread
    (rollover hours left out) is nearer the widened one than the normal one."""
    recent = bars.tail(RECENT_BARS)
    quiet = recent.loc[~recent["time"].dt.hour.isin((21, 22)), "spread"]
    if quiet.empty:
        return False
    ratio = float(quiet.median()) / traits_for(symbol).spread_points
    return ratio > float(np.sqrt(POST_REGIME_SPREAD))


def _start_state(
    bars: pd.DataFrame, symbol: str, seed: int, scale: float, memory: float
) -> _SymbolState:
    """The state to continue from: last close, regime, volatility level, momentum EMA."""
    from scipy.signal import lfilter

    traits, post = traits_for(symbol), is_post_regime(bars, symbol)
    recent = bars.tail(RECENT_BARS + 1)
    returns = np.diff(np.log(recent["close"].to_numpy(dtype=float)))
    hours = np.asarray(recent["time"].dt.hour)[1:]
    # a weekend's gap is a jump of its own (3 sigma), not the volatility level
    steady = np.diff(recent["time"].to_numpy()) == np.timedelta64(round(scale**2 * 3600), "s")
    returns, hours = returns[steady], hours[steady]
    base = traits.hourly_vol * scale * _session_activity(hours)
    base = base * (POST_REGIME_VOL if post else 1.0)
    shocks = returns / base if len(returns) else np.zeros(1)
    level = float(np.clip(np.log(np.sqrt(np.mean(shocks**2)) or 1.0), -STATE_BOUNDS, STATE_BOUNDS))
    _, ema_state = lfilter([0.0, 1.0 - memory], [1.0, -memory], shocks / np.exp(level), zi=[0.0])
    last_time = int(pd.Timestamp(bars["time"].iloc[-1]).timestamp())
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), LIVE_STREAM, last_time])
    return _SymbolState(
        log_close=float(np.log(recent["close"].iloc[-1])),
        vol_state=VOL_MEMORY * level,
        ema_state=float(ema_state[0]),
        post=post,
        rng=rng,
    )


class LiveMarket:
    """The bars that follow ``bars`` (each symbol's stored history, at least its last bar),
    a chunk at a time, all symbols on the same bar times.

    Args:
        bars: symbol → stored bars (MT5 rate layout, tz-aware ``time``), all of ``timeframe``.
        seed: same seed and same stored bars, same live bars.
        chunk: bars per ``next_chunk()``.
    """

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame],
        *,
        seed: int,
        timeframe: str = "H1",
        chunk: int = CHUNK_BARS,
    ) -> None:
        if not bars:
            raise ValueError("a live market continues at least one symbol")
        self.step = TIMEFRAME_SECONDS[timeframe]
        self.scale = float(np.sqrt(self.step / 3600.0))
        self.memory = SIGNAL_MEMORY ** (1.0 / self.scale)
        self.chunk = chunk
        self.last_time = max(pd.Timestamp(frame["time"].iloc[-1]) for frame in bars.values())
        self._states = {
            s: _start_state(frame, s, seed, self.scale, self.memory) for s, frame in bars.items()
        }

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._states)

    def _next_times(self) -> pd.DatetimeIndex:
        first = (self.last_time + pd.Timedelta(seconds=self.step)).to_pydatetime()
        days = int(np.ceil(self.chunk * self.step / 86_400 * 7 / 5)) + 3  # weekends skipped
        return trading_times(first, days, _timeframe_of(self.step))[: self.chunk]

    def next_chunk(self) -> dict[str, pd.DataFrame]:
        """The next ``chunk`` bars of every symbol (each call continues the last)."""
        times = self._next_times()
        previous = self.last_time.value
        chunk = {s: self._continue(s, state, times, previous) for s, state in self._states.items()}
        self.last_time = times[-1]
        return chunk

    def _continue(
        self, symbol: str, state: _SymbolState, times: pd.DatetimeIndex, previous: int
    ) -> pd.DataFrame:
        from scipy.signal import lfilter

        traits, rng, n = traits_for(symbol), state.rng, len(times)
        activity = _session_activity(np.asarray(times.hour))
        noise, vol_state = lfilter(
            [VOL_OF_VOL], [1.0, -VOL_MEMORY], rng.standard_normal(n), zi=[state.vol_state]
        )
        sigma = traits.hourly_vol * self.scale * activity * np.exp(noise)
        sigma = sigma * (POST_REGIME_VOL if state.post else 1.0)
        z = rng.standard_normal(n)
        memory = self.memory
        ema, ema_state = lfilter([0.0, 1.0 - memory], [1.0, -memory], z, zi=[state.ema_state])
        drift_signal = ema / np.sqrt((1.0 - memory) / (1.0 + memory))
        beta = POST_REGIME_BETA if state.post else SIGNAL_BETA
        intrabar = sigma * (z + beta * drift_signal)

        stamps: NDArray[np.int64] = np.asarray(times.asi8)  # type: ignore[attr-defined]
        after_gap = np.diff(stamps, prepend=previous) > self.step * 1e9
        gap = np.zeros(n)
        gap[after_gap] = 3.0 * sigma[after_gap] * rng.standard_normal(int(after_gap.sum()))
        log_close = state.log_close + np.cumsum(gap + intrabar)
        log_open = np.concatenate([[state.log_close], log_close[:-1]]) + gap
        post = np.full(n, state.post)
        frame = bar_frame(symbol, times, log_open, log_close, sigma, post, self.scale, rng)
        state.log_close = float(log_close[-1])
        state.vol_state, state.ema_state = float(vol_state[0]), float(ema_state[0])
        return frame


def _timeframe_of(step: int) -> str:
    return next(name for name, seconds in TIMEFRAME_SECONDS.items() if seconds == step)
