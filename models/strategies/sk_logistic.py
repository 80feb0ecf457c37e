"""Scikit-learn logistic strategy: its own features, labels, fit, decision rule and pyfunc model.

A second model family beside the LightGBM momentum one, behind the same
``models.strategy.Strategy`` protocol, logged the same way: this file, bundled by
``models.packaging`` with the repo modules it imports (``models.labels``), is the one
self-contained models-from-code file a version carries. No pickle: scikit-learn fits the
model, and the fitted numbers (each feature's centre and scale, the coefficients and the
intercept) are written as ``logistic.json``, which ``load_context`` reads back. Serving needs
numpy only: ``decide`` standardises one row and takes a dot product.

Features read bars ``<= t`` through fixed windows (``WINDOW`` bars, the bar decided on
included), so a value never depends on how much history precedes the window: the batch
(training, ``predict``) and the per-bar path (``decide``) run the same function
``window_features`` over the same last ``WINDOW`` bars.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.linear_model import LogisticRegression

from models.labels import forward_return_labels
from models.rate_window import SIGNATURE, input_example

FEATURE_NAMES: tuple[str, ...] = (
    "ret_1",
    "mom_4",
    "mom_16",
    "vol_32",
    "range_8",
    "zclose_16",
    "volume_z_16",
)
# 32 one-bar returns need 33 closes: the longest statistic reads the last 33 bars.
WINDOW = 33
NORMALIZER = 32
DEFAULT_THRESHOLD = 0.02
PARAMS_FILE = "logistic.json"
CONFIG_FILE = "config.json"
# What the fit reads from a training config's ``params`` (the rest are LightGBM's).
DEFAULT_C = 0.1


class Decision(NamedTuple):
    """One decision on the last closed bar, with the features it was made from (journalled)."""

    signal: int
    confidence: float
    probability: float
    features: np.ndarray


def _std(windows: np.ndarray) -> np.ndarray:
    return np.asarray(windows.std(axis=-1, ddof=1), dtype=np.float64)


def window_features(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, tick_volume: np.ndarray
) -> np.ndarray:
    """Feature matrix (n × ``FEATURE_NAMES``); row t reads bars t-32..t, NaN before bar 32.

    Momentum and the close's distance from its mean are in units of trailing volatility, so
    one model fits several symbols.
    """
    n = len(close)
    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    if n < WINDOW:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(np.asarray(close, dtype=np.float64))
        returns = np.diff(log_close)  # returns[i] is bar i+1's
        log_range = np.log(np.asarray(high, np.float64) / np.asarray(low, np.float64))
        log_volume = np.log(np.maximum(np.asarray(tick_volume, np.float64), 1.0))
        rows = slice(WINDOW - 1, n)
        vol = _std(sliding_window_view(returns, NORMALIZER))  # bar t: returns t-31..t
        last = log_close[rows]
        closes_16 = sliding_window_view(log_close, 16)[WINDOW - 16 :]
        volumes_16 = sliding_window_view(log_volume, 16)[WINDOW - 16 :]
        out[rows, 0] = returns[WINDOW - 2 :]
        out[rows, 1] = (last - log_close[WINDOW - 1 - 4 : n - 4]) / (vol * 2.0)
        out[rows, 2] = (last - log_close[WINDOW - 1 - 16 : n - 16]) / (vol * 4.0)
        out[rows, 3] = vol
        out[rows, 4] = sliding_window_view(log_range, 8)[WINDOW - 8 :].mean(axis=-1)
        out[rows, 5] = (last - closes_16.mean(axis=-1)) / (vol * math.sqrt(16))
        spread = _std(volumes_16)
        out[rows, 6] = (log_volume[rows] - volumes_16.mean(axis=-1)) / np.where(
            spread > 0, spread, np.nan
        )
    return out


def frame_features(bars: pd.DataFrame) -> np.ndarray:
    """``window_features`` of a bar DataFrame (MT5 rate columns), in its row order."""
    return window_features(
        bars["high"].to_numpy(np.float64),
        bars["low"].to_numpy(np.float64),
        bars["close"].to_numpy(np.float64),
        bars["tick_volume"].to_numpy(np.float64),
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
    return np.asarray(np.nan_to_num(np.clip(np.abs(2.0 * p - 1.0), 0.0, 1.0), nan=0.0))


class LogisticFit:
    """A fitted logistic model as plain numbers: centre, scale, coefficients, intercept.

    It answers what training asks of any fitted model (the surface of a LightGBM booster it
    uses): ``predict`` (probability of a rise), ``feature_importance`` (|coefficient|: the
    features are standardised), ``feature_name`` and ``model_to_string`` (its JSON, what
    identifies the exact model a version carries).
    """

    def __init__(
        self,
        names: list[str],
        centre: np.ndarray,
        scale: np.ndarray,
        coef: np.ndarray,
        intercept: float,
    ) -> None:
        self.names = list(names)
        self.centre = np.asarray(centre, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Centred and scaled; a missing value sits at the centre (0)."""
        z = (np.asarray(X, dtype=np.float64) - self.centre) / self.scale
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def predict(self, data: Any) -> np.ndarray:
        """Probability of a rise per row of ``data`` (array or DataFrame, ``names`` order)."""
        z = self.standardise(np.asarray(data, dtype=np.float64)) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def feature_importance(self, importance_type: str = "gain") -> np.ndarray:
        return np.abs(self.coef)

    def feature_name(self) -> list[str]:
        return list(self.names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": self.names,
            "centre": self.centre.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    def model_to_string(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticFit:
        return cls(
            list(data["feature_names"]),
            np.asarray(data["centre"]),
            np.asarray(data["scale"]),
            np.asarray(data["coef"]),
            float(data["intercept"]),
        )


def fit_logistic(X: pd.DataFrame, y: np.ndarray, c: float = DEFAULT_C) -> LogisticFit:
    """Standardise on the rows given, fit an L2 logistic regression (deterministic: lbfgs)."""
    values = X.to_numpy(np.float64)
    centre = np.nanmedian(values, axis=0)
    scale = np.nanstd(values, axis=0)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    fit = LogisticFit([str(c) for c in X.columns], centre, scale, np.zeros(values.shape[1]), 0.0)
    labels = np.asarray(y, dtype=np.float64)
    if len(np.unique(labels)) < 2:  # nothing to learn: a coin flip at the base rate
        rate = float(np.clip(labels.mean() if labels.size else 0.5, 1e-6, 1 - 1e-6))
        fit.intercept = math.log(rate / (1.0 - rate))
        return fit
    model = LogisticRegression(C=c, max_iter=500)
    model.fit(fit.standardise(values), labels.astype(np.int64))
    fit.coef = np.asarray(model.coef_[0], dtype=np.float64)
    fit.intercept = float(model.intercept_[0])
    return fit


class SkLogisticModel(mlflow.pyfunc.PythonModel):
    """Pyfunc of the logistic family: ``predict`` in batch, ``decide`` per bar (numpy only)."""

    def __init__(self) -> None:
        self.fit: LogisticFit | None = None
        self.config: dict[str, Any] = {}
        self.feature_names = FEATURE_NAMES
        self.window = WINDOW
        self.threshold = DEFAULT_THRESHOLD

    def load_context(self, context: Any) -> None:
        """Read the fitted numbers and the decision config (JSON; no pickle)."""
        self.load_artifacts(context.artifacts["logistic"], context.artifacts["config"])

    def load_artifacts(self, params_path: str | Path, config_path: str | Path) -> None:
        """Same as ``load_context`` from plain paths, for tests and local replays.

        Raises:
            ValueError: the fitted model names other features than this file computes.
        """
        fit = LogisticFit.from_dict(json.loads(Path(params_path).read_text()))
        if tuple(fit.names) != FEATURE_NAMES:
            raise ValueError(f"fitted on {fit.names}, this file computes {list(FEATURE_NAMES)}")
        self.fit = fit
        self.config = json.loads(Path(config_path).read_text())
        self.threshold = float(self.config.get("threshold", DEFAULT_THRESHOLD))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One row per input bar: probability (NaN without history), signal, confidence."""
        if self.fit is None:
            raise RuntimeError("model not loaded: call load_context or load_artifacts first")
        frame = model_input.sort_values("time", kind="stable")
        features = frame_features(frame)
        proba = np.full(len(features), np.nan)
        ready = ~np.isnan(features).all(axis=1)
        if ready.any():
            proba[ready] = self.fit.predict(features[ready])
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
        fit = self.fit
        if fit is None:
            raise RuntimeError("model not loaded: call load_context or load_artifacts first")
        if len(window) < WINDOW:
            return Decision(0, 0.0, float("nan"), np.full(len(FEATURE_NAMES), np.nan))
        recent = window[-WINDOW:]
        if np.any(recent["time"][1:] < recent["time"][:-1]):
            recent = np.sort(window, order="time")[-WINDOW:]
        features = window_features(
            recent["high"], recent["low"], recent["close"], recent["tick_volume"]
        )[-1]
        z = float(fit.standardise(features) @ fit.coef) + fit.intercept
        probability = 1.0 / (1.0 + math.exp(-z))
        if probability > 0.5 + self.threshold:
            signal = 1
        elif probability < 0.5 - self.threshold:
            signal = -1
        else:
            signal = 0
        confidence = min(max(abs(2.0 * probability - 1.0), 0.0), 1.0)
        return Decision(signal, confidence, probability, features)


class SkLogistic:
    """This family as the ``models.strategy.Strategy`` that training and packaging take."""

    name = "sk_logistic"
    signature = SIGNATURE
    feature_names = FEATURE_NAMES
    window = WINDOW

    def __init__(self) -> None:
        self.source = Path(__file__).resolve()

    def features(self, bars: pd.DataFrame) -> np.ndarray:
        return frame_features(bars)

    def labels(self, close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """1.0 when the close ``horizon`` bars later is higher, else 0.0 (NaN at the tail)."""
        return forward_return_labels(close, horizon)

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any], rounds: int
    ) -> LogisticFit:
        """Reads ``params["C"]`` (inverse L2 strength; default ``DEFAULT_C``); LightGBM's
        parameters and ``rounds`` do not apply to this family."""
        return fit_logistic(X, y, float(params.get("C", DEFAULT_C)))

    def decide(self, probability: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        return signal_from_probability(probability, threshold), confidence_from_probability(
            probability
        )

    def input_example(self) -> pd.DataFrame:
        return input_example(self.window)

    def write_artifacts(
        self, booster: LogisticFit, config: Mapping[str, Any], directory: Path
    ) -> dict[str, str]:
        """``logistic.json`` (the fitted numbers) and ``config.json``, as ``load_context``
        reads them."""
        directory.mkdir(parents=True, exist_ok=True)
        params_path, config_path = directory / PARAMS_FILE, directory / CONFIG_FILE
        params_path.write_text(json.dumps(booster.to_dict(), indent=2, sort_keys=True))
        config_path.write_text(json.dumps(dict(config), indent=2, sort_keys=True))
        return {"logistic": str(params_path), "config": str(config_path)}


STRATEGY = SkLogistic()

mlflow.models.set_model(SkLogisticModel())
