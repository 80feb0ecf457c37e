"""LightGBM momentum strategy: features, pyfunc model and numpy decision path in one file.

This file is logged as an MLflow *models-from-code* model, so it is the exact code a model
version carries into production: training imports ``build_features`` from here and the worker
runs ``decide`` from the logged copy of this file. That is why it imports only third-party
packages (nothing from the repo) and ends with ``mlflow.models.set_model(...)``.

Every feature at bar ``t`` is computed from bars ``<= t`` only, through fixed-length windows,
so a feature value does not depend on how much history precedes the window. The same
features are computed three ways, held together by tests:

- ``build_features``: every row of a bar array at once (numpy) — training and ``predict``;
- ``last_features``: the last row only, from the trailing window (numpy);
- ``FeatureState``: the last row kept up to date one closed bar at a time, in plain Python
  floats over ring buffers and running sums — ``decide``, the per-bar hot path. It falls back
  to ``last_features``' arithmetic on the rare window where running sums and numpy's
  two-pass statistics could disagree (a near-constant series), so it always agrees.

A feature set is named, not coded: each name (``mom_12``, ``vol_ratio_6_48``) says its family
and windows, so the config's ``feature_names`` fully describe what a booster was trained on.
The production set is ``FEATURE_NAMES``; benchmarks and experiments may pass others.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import lightgbm as lgb
import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from numpy.lib.stride_tricks import sliding_window_view

logger = logging.getLogger(__name__)

FEATURE_NAMES: tuple[str, ...] = (
    "mom_1",
    "mom_3",
    "mom_6",
    "mom_12",
    "mom_24",
    "mom_48",
    "vol_24",
    "vol_ratio_6_48",
    "range_12",
    "ma_gap_24",
    "volume_z_24",
    "spread_ratio_48",
)
LONGEST_LOOKBACK = 48
# Momentum is scaled by the volatility of this many returns, whatever its lag.
NORMALIZER = LONGEST_LOOKBACK
INPUT_COLUMNS: tuple[str, ...] = (
    "time",
    "open",
    "high",
    "low",
    "close",
    "tick_volume",
    "spread",
    "real_volume",
)
OUTPUT_COLUMNS: tuple[str, ...] = ("probability", "signal", "confidence")
DEFAULT_THRESHOLD = 0.02


class Decision(NamedTuple):
    """One decision on the last closed bar, with the features it was made from (journalled)."""

    signal: int
    confidence: float
    probability: float
    features: np.ndarray


# --- feature names ------------------------------------------------------------------------

_NAME = re.compile(r"(vol_ratio|spread_ratio|volume_z|ma_gap|range|mom|vol)_(\d+)(?:_(\d+))?")
_STD_FAMILIES = frozenset({"vol", "vol_ratio", "ma_gap", "volume_z"})


class FeatureSpec(NamedTuple):
    """One feature: its family and window(s), parsed from its name.

    ``mom_L``: L-bar log return / (vol of ``NORMALIZER`` returns × √L); ``vol_n``: std of n
    one-bar log returns; ``vol_ratio_a_b``: vol_a / vol_b; ``range_n``: mean log(high/low) over
    n bars; ``ma_gap_n``: (log close − its n-bar mean) / vol_n; ``volume_z_n``: z-score of log
    tick volume over n bars; ``spread_ratio_n``: spread / its n-bar mean.
    """

    kind: str
    length: int
    other: int = 0

    @property
    def lookback(self) -> int:
        """Bars of history before the current one that the feature reads."""
        if self.kind == "mom":
            return max(self.length, NORMALIZER)
        if self.kind in ("vol", "ma_gap"):
            return self.length  # n returns need n + 1 closes
        if self.kind == "vol_ratio":
            return max(self.length, self.other)
        return self.length - 1


def parse_features(names: Sequence[str]) -> tuple[FeatureSpec, ...]:
    """The specs behind feature names; ValueError for a name this file cannot compute."""
    specs = []
    for name in names:
        match = _NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"unknown feature {name!r}: not one of this strategy's families")
        kind, length, other = match.group(1), int(match.group(2)), match.group(3)
        if (other is None) != (kind != "vol_ratio"):
            raise ValueError(f"feature {name!r}: wrong number of windows for {kind}")
        spec = FeatureSpec(kind, length, int(other) if other else 0)
        # a standard deviation of one value is always 0: such a feature carries nothing
        minimum = 2 if kind in _STD_FAMILIES else 1
        if min(spec.length, spec.other or spec.length) < minimum:
            raise ValueError(f"feature {name!r}: window shorter than {minimum}")
        specs.append(spec)
    if not specs:
        raise ValueError("no features")
    return tuple(specs)


def window_of(names: Sequence[str]) -> int:
    """Bars of history one decision needs for ``names``, including the bar decided on."""
    return 1 + max(spec.lookback for spec in parse_features(names))


# Bars of history one decision needs, including the bar decided on.
WINDOW: int = window_of(FEATURE_NAMES)


# --- every row at once (numpy) -----------------------------------------------------------


def _trailing(values: np.ndarray, length: int) -> np.ndarray:
    """Windows of ``length`` values ending at each row; rows with less history are absent."""
    return sliding_window_view(values, length)


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    """Left-pad a per-window result with NaN so row ``t`` lines up with bar ``t``."""
    out = np.full(n, np.nan)
    if values.size:
        out[n - values.size :] = values
    return out


def _rolling_mean(values: np.ndarray, length: int) -> np.ndarray:
    if values.size < length:
        return np.full(values.size, np.nan)
    return _pad(_trailing(values, length).mean(axis=1), values.size)


def _rolling_std(values: np.ndarray, length: int) -> np.ndarray:
    if values.size < length:
        return np.full(values.size, np.nan)
    return _pad(_trailing(values, length).std(axis=1), values.size)


def _lagged_log_return(log_close: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(log_close.size, np.nan)
    if log_close.size > lag:
        out[lag:] = log_close[lag:] - log_close[:-lag]
    return out


def build_features(
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tick_volume: np.ndarray,
    spread: np.ndarray,
    names: Sequence[str] = FEATURE_NAMES,
) -> np.ndarray:
    """Feature matrix (n × len(names)); row t uses rows <= t, NaN until the window is full.

    Momentum is scaled by trailing volatility so one model fits several symbols; the raw
    volatility, range and spread ratio are kept because they are what shifts when a regime
    changes (the drift statistics watch them).
    """
    del open  # part of the bar contract; the current features do not need it
    specs = parse_features(names)
    close = np.asarray(close, dtype=np.float64)
    n = close.size
    log_close = np.log(close)
    ret_1 = _lagged_log_return(log_close, 1)
    cache: dict[tuple[str, int], np.ndarray] = {}

    def vol(length: int) -> np.ndarray:
        key = ("vol", length)
        if key not in cache:
            cache[key] = _rolling_std(ret_1, length)
        return cache[key]

    def series(name: str) -> np.ndarray:
        if name not in cache:
            if name == "log_range":
                ratio = np.asarray(high, dtype=np.float64) / np.asarray(low, dtype=np.float64)
                cache[(name, 0)] = np.log(ratio)
            elif name == "log_volume":
                volume = np.maximum(np.asarray(tick_volume, dtype=np.float64), 1.0)
                cache[(name, 0)] = np.log(volume)
            else:
                cache[(name, 0)] = np.asarray(spread, dtype=np.float64)
        return cache[(name, 0)]

    columns = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for spec in specs:
            kind, length = spec.kind, spec.length
            if kind == "mom":
                column = _lagged_log_return(log_close, length) / (vol(NORMALIZER) * np.sqrt(length))
            elif kind == "vol":
                column = vol(length)
            elif kind == "vol_ratio":
                column = vol(length) / vol(spec.other)
            elif kind == "range":
                column = _rolling_mean(series("log_range"), length)
            elif kind == "ma_gap":
                column = (log_close - _rolling_mean(log_close, length)) / vol(length)
            elif kind == "volume_z":
                log_volume = series("log_volume")
                volume_std = _rolling_std(log_volume, length)
                column = (log_volume - _rolling_mean(log_volume, length)) / np.where(
                    volume_std > 0, volume_std, np.nan
                )
            else:  # spread_ratio
                spread_f = series("spread")
                spread_mean = _rolling_mean(spread_f, length)
                column = spread_f / np.where(spread_mean > 0, spread_mean, np.nan)
            columns.append(column)
    features = np.column_stack(columns)
    features[: min(n, window_of(names) - 1)] = np.nan
    return features


def frame_features(bars: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """``build_features`` of a bar DataFrame (MT5 rate columns), in its row order."""
    return build_features(
        *(bars[name].to_numpy(np.float64) for name in ("open", "high", "low", "close")),
        bars["tick_volume"].to_numpy(np.float64),
        bars["spread"].to_numpy(np.float64),
        names=names,
    )


# --- the last row only (numpy) -----------------------------------------------------------


def _last_row(
    specs: Sequence[FeatureSpec],
    log_close: np.ndarray,
    log_range: np.ndarray,
    log_volume: np.ndarray,
    spread: np.ndarray,
) -> np.ndarray:
    """The last row from trailing transformed series, with ``build_features``' arithmetic.

    Each statistic is numpy's own ``mean``/``std`` of the same trailing values the batch
    windows hold, so this agrees with ``build_features(...)[-1]`` even where the result is
    rounding noise (a constant series' standard deviation).
    """
    returns = log_close[1:] - log_close[:-1]
    last = log_close[-1]
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for spec in specs:
            kind, length = spec.kind, spec.length
            if kind == "mom":
                value = (last - log_close[-1 - length]) / (
                    returns[-NORMALIZER:].std() * np.sqrt(length)
                )
            elif kind == "vol":
                value = returns[-length:].std()
            elif kind == "vol_ratio":
                value = returns[-length:].std() / returns[-spec.other :].std()
            elif kind == "range":
                value = log_range[-length:].mean()
            elif kind == "ma_gap":
                value = (last - log_close[-length:].mean()) / returns[-length:].std()
            elif kind == "volume_z":
                trailing = log_volume[-length:]
                volume_std = trailing.std()
                value = (trailing[-1] - trailing.mean()) / (
                    volume_std if volume_std > 0 else np.nan
                )
            else:  # spread_ratio
                trailing = spread[-length:]
                spread_mean = trailing.mean()
                value = trailing[-1] / (spread_mean if spread_mean > 0 else np.nan)
            out.append(value)
    return np.array(out, dtype=np.float64)


def last_features(
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tick_volume: np.ndarray,
    spread: np.ndarray,
    names: Sequence[str] = FEATURE_NAMES,
) -> np.ndarray:
    """Features of the last row only: ``build_features(...)[-1]`` without the other rows.

    The same formulas on the same trailing slices, so it agrees with ``build_features``
    (tests hold them together). NaN when history is too short.
    """
    del open
    specs = parse_features(names)
    window = window_of(names)
    if len(close) < window:
        return np.full(len(specs), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_range = np.log(
            np.asarray(high[-window:], dtype=np.float64)
            / np.asarray(low[-window:], dtype=np.float64)
        )
    return _last_row(
        specs,
        np.log(np.asarray(close[-window:], dtype=np.float64)),
        log_range,
        np.log(np.maximum(np.asarray(tick_volume[-window:], dtype=np.float64), 1.0)),
        np.asarray(spread[-window:], dtype=np.float64),
    )


# --- one bar at a time (plain Python floats) ---------------------------------------------

# Running sums are recomputed exactly every this many values, so rounding never accumulates.
REFRESH_VALUES = 64
# At or below this std / |mean| a series is (near-)constant: numpy's std of it is rounding
# noise (a constant array's mean is often off by an ulp), which running sums cannot reproduce,
# so the row is computed numpy's way. Above it both are accurate: numpy's error is about
# (eps·|mean|/std)² relative, below 1e-17 here, and anchored deviations are exact.
NEAR_CONSTANT = 1e-7
# The anchor is re-centred once the window's mean has moved more than two stds away from it.
MAX_ANCHOR_DRIFT_SQ = 4.0
# Sums are recomputed once the largest squared deviation they took in exceeds this many times
# the window's variance sum: after a calm spell follows a busy one, the rounding residue the
# busy values left behind would otherwise dominate the small variance.
MAX_PEAK_RATIO = 16.0


class _Rolling:
    """Mean and std of the last ``length`` values of a stream, updated in O(1) per value.

    Sums are kept of ``value - anchor`` with the anchor near the window's mean, so the
    variance ``s2/n - (s1/n)²`` does not cancel away its digits (log volumes sit near 7 with
    a std near 0.3; unshifted, that would cost about three digits). Every ``REFRESH_VALUES`` values —
    staggered across windows by ``phase`` so no bar pays for all of them — the sums are
    recomputed exactly (``math.fsum``) from the stream, which bounds accumulated rounding.

    Rounding in the sums is at most ~``REFRESH_VALUES`` × eps × (``s2`` + ``peak``), ``peak``
    being the largest squared deviation taken in since the last exact recompute; ``std``
    recomputes whenever that bound could exceed ~1e-13 of the variance (the mean drifted
    from the anchor, or the variance shrank far below ``peak``).
    """

    __slots__ = (
        "anchor",
        "anchored",
        "countdown",
        "length",
        "peak",
        "phase",
        "s1",
        "s2",
        "sd",
        "values",
    )

    def __init__(self, values: deque[float], length: int, *, anchored: bool, phase: int) -> None:
        self.values, self.length, self.anchored = values, length, anchored
        self.phase = phase % REFRESH_VALUES
        self.anchor = self.s1 = self.s2 = self.sd = self.peak = 0.0
        self.countdown = REFRESH_VALUES - self.phase

    def push(self) -> None:
        """Account for the value just appended to the stream (and the one leaving the window)."""
        values, anchor = self.values, self.anchor
        d = values[-1] - anchor
        dd = d * d
        if dd > self.peak:
            self.peak = dd
        if len(values) > self.length:
            o = values[-1 - self.length] - anchor
            self.s1 += d - o
            self.s2 += dd - o * o
        else:
            self.s1 += d
            self.s2 += dd
        self.countdown -= 1
        if self.countdown <= 0:
            self.refresh()

    def refresh(self, *, restagger: bool = False) -> None:
        """Recompute the sums exactly from the stream (re-centring the anchor if anchored)."""
        count = min(len(self.values), self.length)
        window = list(itertools.islice(self.values, len(self.values) - count, None))
        if self.anchored and window:
            self.anchor = math.fsum(window) / count
        anchor = self.anchor
        deviations = [v - anchor for v in window]
        squares = [d * d for d in deviations]
        self.s1 = math.fsum(deviations)
        self.s2 = math.fsum(squares)
        self.peak = max(squares, default=0.0)
        self.countdown = REFRESH_VALUES - self.phase if restagger else REFRESH_VALUES

    def mean(self) -> float:
        return self.anchor + self.s1 / self.length

    def std(self) -> float:
        """Population std (numpy's ``std``), also kept in ``sd``."""
        n = self.length
        m = self.s1 / n
        var = self.s2 / n - m * m
        if m * m > MAX_ANCHOR_DRIFT_SQ * var or self.peak > MAX_PEAK_RATIO * n * var:
            self.refresh()
            m = self.s1 / n
            var = self.s2 / n - m * m
        self.sd = math.sqrt(var) if var > 0.0 else 0.0
        return self.sd


class FeatureState:
    """The features of one bar stream, kept up to date one closed bar at a time.

    ``update(high, low, close, tick_volume, spread)`` takes the next closed bar and returns
    the features of the stream's last ``window`` bars — what ``build_features(...)[-1]``
    returns for them (to ~1e-12 relative; ``ma_gap`` and ``volume_z``, differences of a value
    and its mean, to a few roundings of that mean — the batch's own rounding; tests hold them
    together). Costs a few
    microseconds, independent of the window length: transformed values live in ring buffers
    (``deque(maxlen=...)``) and each rolling statistic in a ``_Rolling`` running sum.
    ``rebuild`` starts over from arrays (a gap, another stream).

    Logs go through ``np.log`` on a small preallocated array rather than ``math.log``: numpy's
    SIMD log differs from libm's in the last bit, and momentum subtracts two logs, so only the
    same log keeps the incremental path bit-equal to the batch one where it matters.
    """

    def __init__(self, names: Sequence[str] = FEATURE_NAMES) -> None:
        self.names = tuple(names)
        self.specs = parse_features(self.names)
        self.window = window_of(self.names)
        keep = self.window + 1
        self._log_close: deque[float] = deque(maxlen=keep)
        self._returns: deque[float] = deque(maxlen=keep)
        self._log_range: deque[float] = deque(maxlen=keep)
        self._log_volume: deque[float] = deque(maxlen=keep)
        self._spread: deque[float] = deque(maxlen=keep)
        self._logs = np.empty(3, dtype=np.float64)
        phases = itertools.count(0, 11)
        windows: dict[tuple[str, int], _Rolling] = {}

        def rolling(stream: str, length: int) -> _Rolling:
            if (stream, length) not in windows:
                values, anchored = {
                    "returns": (self._returns, True),
                    "log_close": (self._log_close, True),
                    "log_range": (self._log_range, False),
                    "log_volume": (self._log_volume, True),
                    "spread": (self._spread, False),  # integers: exact sums without an anchor
                }[stream]
                windows[(stream, length)] = _Rolling(
                    values, length, anchored=anchored, phase=next(phases)
                )
            return windows[(stream, length)]

        # (code, a, b, c): what each feature reads, resolved once so a bar does no lookups
        self._plan: list[tuple[str, Any, Any, Any]] = []
        checked: list[_Rolling] = []  # stds whose near-constancy forces the numpy row
        for spec in self.specs:
            kind, length = spec.kind, spec.length
            if kind == "mom":
                normalizer = rolling("returns", NORMALIZER)
                self._plan.append((kind, length, math.sqrt(length), normalizer))
                checked.append(normalizer)
            elif kind in ("vol", "ma_gap"):
                vol = rolling("returns", length)
                mean = rolling("log_close", length) if kind == "ma_gap" else None
                self._plan.append((kind, vol, mean, None))
                checked.append(vol)
            elif kind == "vol_ratio":
                top, bottom = rolling("returns", length), rolling("returns", spec.other)
                self._plan.append((kind, top, bottom, None))
                checked += [top, bottom]
            elif kind == "range":
                self._plan.append((kind, rolling("log_range", length), None, None))
            elif kind == "volume_z":
                volume = rolling("log_volume", length)
                self._plan.append((kind, volume, None, None))
                checked.append(volume)
            else:
                self._plan.append((kind, rolling("spread", length), None, None))
        self._checked = tuple(dict.fromkeys(checked))  # each std once, in a stable order
        self._by_stream: dict[str, tuple[_Rolling, ...]] = {
            stream: tuple(w for (s, _), w in windows.items() if s == stream)
            for stream in ("returns", "log_close", "log_range", "log_volume", "spread")
        }
        self._return_windows = self._by_stream["returns"]
        self._other_windows = tuple(
            w for stream, ws in self._by_stream.items() if stream != "returns" for w in ws
        )
        self.count = 0
        self.values: list[float] = [math.nan] * len(self.specs)

    @property
    def ready(self) -> bool:
        """Whether a full window has been seen (features are NaN until then)."""
        return self.count >= self.window

    def update(
        self, high: float, low: float, close: float, tick_volume: float, spread: float
    ) -> np.ndarray:
        """Take the next closed bar; return the features of the last ``window`` bars."""
        return np.array(self.push(high, low, close, tick_volume, spread), dtype=np.float64)

    def push(
        self, high: float, low: float, close: float, tick_volume: float, spread: float
    ) -> list[float]:
        """``update`` returning plain floats (the hot path: no array per bar)."""
        try:
            ratio = high / low
        except ZeroDivisionError:
            ratio = math.inf if high > 0 else math.nan
        volume = float(tick_volume)
        logs = self._logs
        logs[0], logs[1], logs[2] = close, ratio, volume if not volume <= 1.0 else 1.0
        np.log(logs, out=logs)
        log_close, log_range, log_volume = logs.tolist()
        closes = self._log_close
        if closes:
            self._returns.append(log_close - closes[-1])
            for w in self._return_windows:
                w.push()
        closes.append(log_close)
        self._log_range.append(log_range)
        self._log_volume.append(log_volume)
        self._spread.append(float(spread))
        for w in self._other_windows:
            w.push()
        self.count += 1
        self.values = (
            self._evaluate() if self.count >= self.window else [math.nan] * len(self.specs)
        )
        return self.values

    def rebuild(
        self,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        tick_volume: np.ndarray,
        spread: np.ndarray,
    ) -> list[float]:
        """Start over from the bars given (oldest first); return the last bar's features.

        Only the last ``window`` bars matter; their transforms are computed vectorised with
        the batch path's own numpy calls, and every running sum exactly.
        """
        window = self.window
        close = np.asarray(close[-window:], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_range = np.log(
                np.asarray(high[-window:], dtype=np.float64)
                / np.asarray(low[-window:], dtype=np.float64)
            )
        log_close = np.log(close)
        log_volume = np.log(np.maximum(np.asarray(tick_volume[-window:], dtype=np.float64), 1.0))
        for stream, values in (
            (self._log_close, log_close),
            (self._returns, log_close[1:] - log_close[:-1]),
            (self._log_range, log_range),
            (self._log_volume, log_volume),
            (self._spread, np.asarray(spread[-window:], dtype=np.float64)),
        ):
            stream.clear()
            stream.extend(values.tolist())
        for windows in self._by_stream.values():
            for w in windows:
                w.refresh(restagger=True)
        self.count = close.size
        self.values = self._evaluate() if self.count >= window else [math.nan] * len(self.specs)
        return self.values

    def _evaluate(self) -> list[float]:
        # means are ``_Rolling.mean`` written out: this loop runs once per bar per feature
        for w in self._checked:
            if w.std() <= NEAR_CONSTANT * abs(w.anchor + w.s1 / w.length):
                return self._numpy_row()
        closes = self._log_close
        last = closes[-1]
        out = []
        append = out.append
        for kind, a, b, c in self._plan:
            if kind == "mom":
                append((last - closes[-1 - a]) / (c.sd * b))
            elif kind == "vol":
                append(a.sd)
            elif kind == "ma_gap":
                append((last - (b.anchor + b.s1 / b.length)) / a.sd)
            elif kind == "vol_ratio":
                append(a.sd / b.sd)
            elif kind == "range":
                append(a.anchor + a.s1 / a.length)
            elif kind == "volume_z":  # its std was checked above: not near 0
                append((self._log_volume[-1] - (a.anchor + a.s1 / a.length)) / a.sd)
            else:
                spread_mean = a.anchor + a.s1 / a.length
                append(self._spread[-1] / spread_mean if spread_mean > 0 else math.nan)
        return out

    def _numpy_row(self) -> list[float]:
        """The row as ``last_features`` computes it, from the ring buffers."""
        row = _last_row(
            self.specs,
            np.array(self._log_close),
            np.array(self._log_range),
            np.array(self._log_volume),
            np.array(self._spread),
        )
        return [float(v) for v in row]


# --- decisions ---------------------------------------------------------------------------


def signal_from_probability(probability: np.ndarray, threshold: float) -> np.ndarray:
    """Long above 0.5 + threshold, short below 0.5 - threshold, flat in between or on NaN."""
    p = np.asarray(probability, dtype=np.float64)
    signal = np.zeros(p.shape, dtype=np.int64)
    signal[p > 0.5 + threshold] = 1
    signal[p < 0.5 - threshold] = -1
    return signal


def confidence_from_probability(probability: np.ndarray) -> np.ndarray:
    """Distance from a coin flip, in [0, 1]; 0 where there is no probability."""
    p = np.asarray(probability, dtype=np.float64)
    return np.nan_to_num(np.clip(np.abs(2.0 * p - 1.0), 0.0, 1.0), nan=0.0)


def input_example(n: int = WINDOW) -> pd.DataFrame:
    """A small valid input frame (flat prices), for signatures and smoke tests."""
    times = 1_641_168_000 + 3600 * np.arange(n, dtype=np.int64)
    price = np.full(n, 1.1)
    return pd.DataFrame(
        {
            "time": times,
            "open": price,
            "high": price + 0.0005,
            "low": price - 0.0005,
            "close": price,
            "tick_volume": np.full(n, 1000, dtype=np.int64),
            "spread": np.full(n, 12, dtype=np.int64),
            "real_volume": np.zeros(n, dtype=np.int64),
        }
    )


SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("long", "time")]
        + [ColSpec("double", name) for name in ("open", "high", "low", "close")]
        + [ColSpec("long", name) for name in ("tick_volume", "spread", "real_volume")]
    ),
    outputs=Schema(
        [
            ColSpec("double", "probability"),
            ColSpec("long", "signal"),
            ColSpec("double", "confidence"),
        ]
    ),
)


class RowPredictor:
    """A booster's probability for one feature row, without ``Booster.predict``'s overhead.

    ``Booster.predict`` spends ~20 µs per call on Python-side set-up (a predictor object,
    input conversion, two sizing calls into the library) around a tree walk of a few µs.
    LightGBM's C API has a documented single-row path for exactly this case
    (``LGBM_BoosterPredictForMatSingleRowFastInit`` once, then
    ``LGBM_BoosterPredictForMatSingleRowFast`` per row); it is reached through the ctypes
    library handle the lightgbm package already loaded. It is used only if it is there and
    returns exactly ``Booster.predict``'s numbers on probe rows; otherwise, or if a call
    fails, ``Booster.predict`` on the same preallocated row is the fallback.

    ``row`` (1 × n float64) is the input buffer; ``predict(values)`` fills it and predicts.
    Not thread-safe (one buffer): callers hold a lock.
    """

    def __init__(self, booster: lgb.Booster, n_features: int) -> None:
        self.booster = booster
        # what Booster.predict uses with default arguments
        self.num_iteration = booster.best_iteration
        self.row = np.zeros((1, n_features), dtype=np.float64)
        self._buffer = (ctypes.c_double * n_features).from_buffer(self.row)
        self._out = ctypes.c_double(0.0)
        self._out_len = ctypes.c_int64(0)
        self._config = ctypes.c_void_p()
        self._lib: Any = None
        self._fast: Any = None
        self._args: tuple[Any, ...] = ()
        try:
            self._open_fast_path(n_features)
        except Exception as e:  # an older or different build: the slow path is always right
            logger.warning("LightGBM single-row fast path unavailable (%s); using predict", e)
            self._close_fast_path()

    @property
    def fast(self) -> bool:
        """Whether the single-row C API path is in use."""
        return self._fast is not None

    def _open_fast_path(self, n_features: int) -> None:
        from lightgbm import basic

        lib = basic._LIB
        if self.booster.num_model_per_iteration() != 1:
            raise ValueError("more than one output per row")
        rc = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            self.booster._handle,
            ctypes.c_int(0),  # C_API_PREDICT_NORMAL
            ctypes.c_int(0),  # start_iteration
            ctypes.c_int(self.num_iteration),
            ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
            ctypes.c_int32(n_features),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._config),
        )
        if rc != 0:
            raise RuntimeError(basic._LIB.LGBM_GetLastError().decode())
        self._lib = lib
        self._fast = lib.LGBM_BoosterPredictForMatSingleRowFast
        self._args = (
            self._config,
            ctypes.c_void_p(self.row.ctypes.data),
            ctypes.byref(self._out_len),
            ctypes.byref(self._out),
        )
        rng = np.random.default_rng(0)
        probes = [np.zeros(n_features), np.full(n_features, np.nan)]
        probes += list(rng.normal(0.0, 2.0, (8, n_features)))
        for probe in probes:
            self._buffer[:] = probe.tolist()
            expected = float(self.booster.predict(self.row, num_iteration=self.num_iteration)[0])
            got = self._fast(*self._args)
            if got != 0 or self._out_len.value != 1 or self._out.value != expected:
                raise RuntimeError(
                    f"disagrees with Booster.predict ({self._out.value} != {expected})"
                )

    def _close_fast_path(self) -> None:
        if self._config.value and self._lib is not None:
            self._lib.LGBM_FastConfigFree(self._config)
        self._config = ctypes.c_void_p()
        self._fast = None

    def __del__(self) -> None:
        # at interpreter shutdown the library may already be gone
        with contextlib.suppress(Exception):
            self._close_fast_path()

    def predict(self, values: Sequence[float]) -> float:
        """Probability for one row of ``values`` (written into ``row``)."""
        self._buffer[:] = values
        if self._fast is not None and self._fast(*self._args) == 0:
            return self._out.value
        # one thread: a row gains nothing from OpenMP, and a parallel region waiting for a
        # core another process holds stalls for milliseconds
        return float(
            self.booster.predict(self.row, num_iteration=self.num_iteration, num_threads=1)[0]
        )


# Bar streams a model keeps features for at once (symbols × whatever else calls decide).
MAX_STREAMS = 64


class _Stream:
    """A ``FeatureState`` and the window it last saw (raw bytes), to recognise its successor."""

    __slots__ = ("dtype", "last_time", "raw", "state")

    def __init__(self, state: FeatureState) -> None:
        self.state, self.raw, self.last_time, self.dtype = state, b"", 0, None

    def continues(self, raw: bytes, size: int, time: int, dtype: Any) -> bool:
        """Whether a window (``raw``, rows of ``size`` bytes) is this stream's last window
        moved on by one bar: all but its last bar identical, and the new bar not older."""
        return (
            self.raw[size:] == raw[:-size]
            and time >= self.last_time
            and (dtype is self.dtype or dtype == self.dtype)
        )


class LgbmMomentumModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper around a LightGBM booster stored in LightGBM's own text format.

    ``predict`` (the pyfunc contract) computes features in batch; ``decide`` (the worker's
    per-bar path) keeps a ``FeatureState`` per bar stream and updates it with the window's new
    bar. Streams are found by content, not by name: a window continues a stream when its
    first ``window - 1`` bars are byte-for-byte that stream's last ones and its new bar is not
    older; anything else — the first bar, a gap, a revised bar, out-of-order bars, another
    symbol's window — rebuilds from the window. So ``decide`` needs no symbol and its result
    never depends on the order or the company in which it is called.
    """

    def __init__(self, names: Sequence[str] = FEATURE_NAMES) -> None:
        self.booster: lgb.Booster | None = None
        self.threshold: float = DEFAULT_THRESHOLD
        self.config: dict[str, Any] = {}
        self._set_names(names)
        self._predictor: RowPredictor | None = None
        self._lock = threading.Lock()
        self._streams: dict[bytes, _Stream] = {}
        self._fields: tuple[Any, tuple[int, ...]] | None = None
        # Decisions that rebuilt a stream from its window instead of pushing one bar (first
        # bar, gaps, revised or out-of-order bars). Once per symbol is normal; one per bar
        # means the per-bar path is not used and each decision pays ~5x more.
        self.rebuilds = 0

    def _set_names(self, names: Sequence[str]) -> None:
        parse_features(names)
        # The worker fetches ``window`` bars and journals features under ``feature_names``.
        self.feature_names: tuple[str, ...] = tuple(names)
        self.window: int = window_of(names)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_predictor", "_lock", "_streams", "_fields"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock, self._streams, self._fields = threading.Lock(), {}, None
        self._predictor = None
        if self.booster is not None:
            self._predictor = RowPredictor(self.booster, len(self.feature_names))

    def load_context(self, context: Any) -> None:
        """Load the booster and the decision config from the logged artifacts (no pickle)."""
        self.load_artifacts(context.artifacts["booster"], context.artifacts["config"])

    def load_artifacts(self, booster_path: str | Path, config_path: str | Path) -> None:
        """Same as ``load_context`` from plain paths, for tests and local replays."""
        config = json.loads(Path(config_path).read_text())
        self.use_booster(lgb.Booster(model_file=str(booster_path)), config)

    def use_booster(self, booster: lgb.Booster, config: dict[str, Any]) -> None:
        """Serve ``booster`` with ``config`` (threshold, feature_names); checks they fit.

        Raises:
            ValueError: a feature name this file cannot compute, or a booster trained on a
                different number of features.
        """
        names = tuple(config.get("feature_names", FEATURE_NAMES))
        self._set_names(names)
        if booster.num_feature() != len(names):
            raise ValueError(
                f"booster has {booster.num_feature()} features, config names {len(names)}"
            )
        with self._lock:
            self.booster, self.config = booster, dict(config)
            self.threshold = float(config.get("threshold", DEFAULT_THRESHOLD))
            self._predictor = RowPredictor(booster, len(names))
            self._streams.clear()

    def _probabilities(self, features: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("model not loaded: call load_context or load_artifacts first")
        proba = np.full(features.shape[0], np.nan)
        ready = ~np.isnan(features).all(axis=1)
        if ready.any():
            proba[ready] = self.booster.predict(features[ready])
        return proba

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One row per input bar: probability (NaN without history), signal, confidence."""
        frame = model_input.sort_values("time", kind="stable")
        features = frame_features(frame, self.feature_names)
        proba = self._probabilities(features)
        out = pd.DataFrame(
            {
                "probability": proba,
                "signal": signal_from_probability(proba, self.threshold),
                "confidence": confidence_from_probability(proba),
            },
            index=frame.index,
        )
        return out.loc[model_input.index].reset_index(drop=True)

    def decide(self, window: np.ndarray) -> Decision:
        """Decide on the last bar of a ``copy_rates_from_pos`` array; no pandas, no schema."""
        predictor = self._predictor
        if predictor is None:
            raise RuntimeError("model not loaded: call load_context or load_artifacts first")
        if len(window) < self.window:
            nan = np.full(len(self.feature_names), np.nan)
            return Decision(0, 0.0, float("nan"), nan)
        with self._lock:
            values = self._features(window)
            probability = predictor.predict(values)
            features = predictor.row[0].copy()
        if probability > 0.5 + self.threshold:
            signal = 1
        elif probability < 0.5 - self.threshold:
            signal = -1
        else:
            signal = 0
        confidence = min(max(abs(2.0 * probability - 1.0), 0.0), 1.0)
        return Decision(signal, confidence, probability, features)

    def _field_indices(self, dtype: Any) -> tuple[int, ...]:
        """Positions of time, high, low, close, tick_volume, spread in a row of ``dtype``."""
        if self._fields is None or self._fields[0] is not dtype:
            names = dtype.names
            wanted = ("time", "high", "low", "close", "tick_volume", "spread")
            self._fields = (dtype, tuple(names.index(name) for name in wanted))
        return self._fields[1]

    def _features(self, window: np.ndarray) -> list[float]:
        """The last bar's features: the stream this window continues, pushed one bar, or a
        state rebuilt from the window. Called under the lock."""
        recent = window[-self.window :]
        raw = recent.tobytes()
        size = recent.dtype.itemsize
        t, h, lo, c, v, s = self._field_indices(recent.dtype)
        bar = recent[-1].item()
        stream = self._streams.pop(raw[-2 * size : -size], None)
        if stream is not None and stream.continues(raw, size, bar[t], recent.dtype):
            values = stream.state.push(bar[h], bar[lo], bar[c], bar[v], bar[s])
        else:
            if stream is not None:  # another stream ending in the same bar: keep it
                self._streams[stream.raw[-size:]] = stream
            times = window["time"]
            if np.any(times[1:] < times[:-1]):
                window = np.sort(window, order="time")
                recent = window[-self.window :]
                raw = recent.tobytes()
                bar = recent[-1].item()
            same = self._streams.get(raw[-size:])
            if same is not None and same.raw == raw:
                return same.state.values  # the same window again
            stream = _Stream(FeatureState(self.feature_names))
            self.rebuilds += 1
            values = stream.state.rebuild(
                recent["high"],
                recent["low"],
                recent["close"],
                recent["tick_volume"],
                recent["spread"],
            )
        stream.raw, stream.last_time, stream.dtype = raw, bar[t], recent.dtype
        self._streams[raw[-size:]] = stream
        if len(self._streams) > MAX_STREAMS:
            del self._streams[next(iter(self._streams))]
        return values


mlflow.models.set_model(LgbmMomentumModel())
