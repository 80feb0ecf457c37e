"""LightGBM momentum strategy: features, pyfunc model and numpy decision path in one file.

This file is logged as an MLflow *models-from-code* model, so it is the exact code a model
version carries into production: training imports ``build_features`` from here and the worker
runs ``decide`` from the logged copy of this file. That is why it imports only third-party
packages (nothing from the repo) and ends with ``mlflow.models.set_model(...)``.

Every feature at bar ``t`` is computed from bars ``<= t`` only, through fixed-length windows
(``sliding_window_view``), so a feature value does not depend on how much history precedes the
window: ``predict`` on a long frame and ``decide`` on the last ``WINDOW`` bars agree exactly.
"""

from __future__ import annotations

import json
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
# Bars of history one decision needs, including the bar decided on.
WINDOW: int = LONGEST_LOOKBACK + 1
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
) -> np.ndarray:
    """Feature matrix (n × len(FEATURE_NAMES)); row t uses rows <= t, NaN until WINDOW-1.

    Momentum is scaled by trailing volatility so one model fits several symbols; the raw
    volatility, range and spread ratio are kept because they are what shifts when a regime
    changes (the drift statistics watch them).
    """
    del open  # part of the bar contract; the current features do not need it
    close = np.asarray(close, dtype=np.float64)
    n = close.size
    log_close = np.log(close)
    ret_1 = _lagged_log_return(log_close, 1)
    vol_48 = _rolling_std(ret_1, LONGEST_LOOKBACK)
    vol_24 = _rolling_std(ret_1, 24)
    vol_6 = _rolling_std(ret_1, 6)
    with np.errstate(divide="ignore", invalid="ignore"):
        moms = [
            _lagged_log_return(log_close, lag) / (vol_48 * np.sqrt(lag))
            for lag in (1, 3, 6, 12, 24, 48)
        ]
        vol_ratio = vol_6 / vol_48
        log_range = np.log(np.asarray(high, dtype=np.float64) / np.asarray(low, dtype=np.float64))
        range_12 = _rolling_mean(log_range, 12)
        ma_gap = (log_close - _rolling_mean(log_close, 24)) / vol_24
        log_volume = np.log(np.maximum(np.asarray(tick_volume, dtype=np.float64), 1.0))
        volume_std = _rolling_std(log_volume, 24)
        volume_z = (log_volume - _rolling_mean(log_volume, 24)) / np.where(
            volume_std > 0, volume_std, np.nan
        )
        spread_f = np.asarray(spread, dtype=np.float64)
        spread_mean = _rolling_mean(spread_f, LONGEST_LOOKBACK)
        spread_ratio = spread_f / np.where(spread_mean > 0, spread_mean, np.nan)
    features = np.column_stack([*moms, vol_24, vol_ratio, range_12, ma_gap, volume_z, spread_ratio])
    features[: min(n, WINDOW - 1)] = np.nan
    return features


def frame_features(bars: pd.DataFrame) -> np.ndarray:
    """``build_features`` of a bar DataFrame (MT5 rate columns), in its row order."""
    return build_features(
        *(bars[name].to_numpy(np.float64) for name in ("open", "high", "low", "close")),
        bars["tick_volume"].to_numpy(np.float64),
        bars["spread"].to_numpy(np.float64),
    )


def last_features(
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tick_volume: np.ndarray,
    spread: np.ndarray,
) -> np.ndarray:
    """Features of the last row only: ``build_features(...)[-1]`` without the other rows.

    The per-bar decision path; the same formulas on the same trailing slices, so it agrees
    with ``build_features`` (tests hold them together). NaN when history is too short.
    """
    del open
    if len(close) < WINDOW:
        return np.full(len(FEATURE_NAMES), np.nan)
    log_close = np.log(np.asarray(close[-WINDOW:], dtype=np.float64))
    returns = log_close[1:] - log_close[:-1]
    vol_48 = returns[-LONGEST_LOOKBACK:].std()
    vol_24 = returns[-24:].std()
    vol_6 = returns[-6:].std()
    last = log_close[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        moms = [
            (last - log_close[-1 - lag]) / (vol_48 * np.sqrt(lag)) for lag in (1, 3, 6, 12, 24, 48)
        ]
        high_12 = np.asarray(high[-12:], dtype=np.float64)
        low_12 = np.asarray(low[-12:], dtype=np.float64)
        range_12 = np.log(high_12 / low_12).mean()
        ma_gap = (last - log_close[-24:].mean()) / vol_24
        log_volume = np.log(np.maximum(np.asarray(tick_volume[-24:], dtype=np.float64), 1.0))
        volume_std = log_volume.std()
        volume_z = (log_volume[-1] - log_volume.mean()) / (volume_std if volume_std > 0 else np.nan)
        spread_48 = np.asarray(spread[-LONGEST_LOOKBACK:], dtype=np.float64)
        spread_mean = spread_48.mean()
        spread_ratio = spread_48[-1] / (spread_mean if spread_mean > 0 else np.nan)
    return np.array(
        [*moms, vol_24, vol_6 / vol_48, range_12, ma_gap, volume_z, spread_ratio],
        dtype=np.float64,
    )


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


class LgbmMomentumModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper around a LightGBM booster stored in LightGBM's own text format."""

    window: int = WINDOW
    # The worker journals each decision's features under these names.
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def __init__(self) -> None:
        self.booster: lgb.Booster | None = None
        self.threshold: float = DEFAULT_THRESHOLD
        self.config: dict[str, Any] = {}

    def load_context(self, context: Any) -> None:
        """Load the booster and the decision config from the logged artifacts (no pickle)."""
        self.load_artifacts(context.artifacts["booster"], context.artifacts["config"])

    def load_artifacts(self, booster_path: str | Path, config_path: str | Path) -> None:
        """Same as ``load_context`` from plain paths, for tests and local replays."""
        self.booster = lgb.Booster(model_file=str(booster_path))
        self.config = json.loads(Path(config_path).read_text())
        self.threshold = float(self.config.get("threshold", DEFAULT_THRESHOLD))
        names = tuple(self.config.get("feature_names", FEATURE_NAMES))
        if names != FEATURE_NAMES:
            raise ValueError(f"config feature_names {names} do not match {FEATURE_NAMES}")

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
        features = frame_features(frame)
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
        """Decide on the last bar of a ``copy_rates_from_pos`` array; numpy only, no pandas."""
        if len(window) < WINDOW:
            return Decision(0, 0.0, float("nan"), np.full(len(FEATURE_NAMES), np.nan))
        times = window["time"]
        if np.any(times[1:] < times[:-1]):
            window = np.sort(window, order="time")
        window = window[-WINDOW:]
        features = last_features(
            window["open"],
            window["high"],
            window["low"],
            window["close"],
            window["tick_volume"],
            window["spread"],
        )
        if self.booster is None:
            raise RuntimeError("model not loaded: call load_context or load_artifacts first")
        probability = float(self.booster.predict(features[None, :])[0])
        if probability > 0.5 + self.threshold:
            signal = 1
        elif probability < 0.5 - self.threshold:
            signal = -1
        else:
            signal = 0
        confidence = min(max(abs(2.0 * probability - 1.0), 0.0), 1.0)
        return Decision(signal, confidence, probability, features)


mlflow.models.set_model(LgbmMomentumModel())
