"""LightGBM momentum strategy: its features, labels, fit, decision rule and pyfunc model.

A model version is logged as this file (MLflow *models-from-code*): ``models.packaging``
bundles it with the repo modules it imports (``models.rolling``, ``models.streaming``,
``models.labels``: generic machinery, third-party imports only) into one self-contained file
ending in ``mlflow.models.set_model(...)``, so each version carries the exact feature code it
was trained with. Training reaches this file only through ``STRATEGY`` (a
``models.strategy.Strategy``); the worker runs ``decide`` from the logged copy.

Every feature at bar ``t`` is computed from bars ``<= t`` only, through fixed-length windows,
so a feature value does not depend on how much history precedes the window. Each feature's
formula is written once (``FORMULAS``) over rolling statistics of a few per-bar series, and
``models.rolling`` runs it over every bar at once (training, ``predict``) or keeps it one
closed bar at a time (``FeatureState``, ``decide``'s hot path).

A feature set is named, not coded: each name (``mom_12``, ``vol_ratio_6_48``) says its family
and windows, so the config's ``feature_names`` fully describe what a booster was trained on.
The production set is ``FEATURE_NAMES``; benchmarks and experiments may pass others.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import lightgbm as lgb
import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.labels import forward_return_labels
from models.rate_window import SIGNATURE, input_example
from models.rolling import ArrayStats, RollingLayout, RollingRows
from models.streaming import RowPredictor, StreamCache

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
# Momentum is scaled by the volatility of this many returns, whatever its lag.
NORMALIZER = 48
DEFAULT_THRESHOLD = 0.02
# The bar fields the features read, in the order ``FeatureState.push`` takes them.
FIELDS: tuple[str, ...] = ("high", "low", "close", "tick_volume", "spread")
BOOSTER_FILE = "booster.txt"
CONFIG_FILE = "config.json"


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
    """One feature: its family and window(s), parsed from its name (formulas: ``FORMULAS``)."""

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


# --- the features, each formula once ------------------------------------------------------

# The per-bar series the features are statistics of, and whether their running sums are
# anchored at the window's mean (log close/volume sit far from 0; spreads are integers).
SERIES: dict[str, bool] = {
    "log_close": True,
    "returns": True,  # one-bar log returns: none at the first bar
    "log_range": False,
    "log_volume": True,
    "spread": False,
}

# ``s`` gives rolling statistics of SERIES (``models.rolling``): arrays over every bar, numpy
# scalars of the last bar, or terms compiled into the per-bar function.
FORMULAS: dict[str, Callable[[Any, FeatureSpec], Any]] = {
    # L-bar log return over the volatility of NORMALIZER returns, per √L
    "mom": lambda s, f: (
        (s.last("log_close") - s.lag("log_close", f.length))
        / (s.std("returns", NORMALIZER) * math.sqrt(f.length))
    ),
    # std of n one-bar log returns, and the ratio of two of them
    "vol": lambda s, f: s.std("returns", f.length),
    "vol_ratio": lambda s, f: s.std("returns", f.length) / s.std("returns", f.other),
    # mean log(high / low) over n bars
    "range": lambda s, f: s.mean("log_range", f.length),
    # log close above its n-bar mean, in n-bar volatilities
    "ma_gap": lambda s, f: (
        (s.last("log_close") - s.mean("log_close", f.length)) / s.std("returns", f.length)
    ),
    # z-score of log tick volume over n bars
    "volume_z": lambda s, f: (
        (s.last("log_volume") - s.mean("log_volume", f.length))
        / s.positive(s.std("log_volume", f.length))
    ),
    # spread over its n-bar mean
    "spread_ratio": lambda s, f: s.last("spread") / s.positive(s.mean("spread", f.length)),
}


def formulas(names: Sequence[str]) -> list[Callable[[Any], Any]]:
    """One formula per feature name, each a function of a stats object."""
    return [functools.partial(FORMULAS[spec.kind], f=spec) for spec in parse_features(names)]


def bar_series(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tick_volume: np.ndarray,
    spread: np.ndarray,
) -> list[np.ndarray]:
    """SERIES of every bar, in order (``returns`` starts at the second bar)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(np.asarray(close, dtype=np.float64))
        return [
            log_close,
            log_close[1:] - log_close[:-1],
            np.log(np.asarray(high, dtype=np.float64) / np.asarray(low, dtype=np.float64)),
            np.log(np.maximum(np.asarray(tick_volume, dtype=np.float64), 1.0)),
            np.asarray(spread, dtype=np.float64),
        ]


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
    series = dict(zip(SERIES, bar_series(high, low, close, tick_volume, spread), strict=True))
    columns = ArrayStats(series).evaluate(formulas(names))
    features = np.column_stack(columns).astype(np.float64, copy=False)
    features[: min(len(close), window_of(names) - 1)] = np.nan
    return features


def frame_features(bars: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """``build_features`` of a bar DataFrame (MT5 rate columns), in its row order."""
    return build_features(
        bars["open"].to_numpy(np.float64),
        bars["high"].to_numpy(np.float64),
        bars["low"].to_numpy(np.float64),
        bars["close"].to_numpy(np.float64),
        bars["tick_volume"].to_numpy(np.float64),
        bars["spread"].to_numpy(np.float64),
        names=names,
    )


@functools.lru_cache(maxsize=16)
def _layout(names: tuple[str, ...]) -> RollingLayout:
    """The formulas of ``names`` compiled for streaming, once per feature set."""
    return RollingLayout(SERIES, formulas(names), window_of(names))


class FeatureState(RollingRows):
    """The features of one bar stream, kept up to date one closed bar at a time.

    ``update(high, low, close, tick_volume, spread)`` takes the next closed bar and returns
    the features of the stream's last ``window`` bars — what ``build_features(...)[-1]``
    returns for them (to ~1e-12 relative; ``ma_gap`` and ``volume_z``, differences of a value
    and its mean, to a few roundings of that mean — the batch's own rounding; tests hold them
    together). ``rebuild`` starts over from arrays (a gap, another stream).

    Logs go through ``np.log`` on a small preallocated array rather than ``math.log``: numpy's
    SIMD log differs from libm's in the last bit, and momentum subtracts two logs, so only the
    same log keeps the per-bar path bit-equal to ``bar_series`` where it matters. The array is
    filled and read through a ctypes view of it, so the log is the bar's only numpy call.
    """

    def __init__(self, names: Sequence[str] = FEATURE_NAMES) -> None:
        super().__init__(_layout(tuple(names)))
        self.names = tuple(names)
        self.window = self.layout.window
        self._logs = np.empty(3, dtype=np.float64)
        self._log_buffer = (ctypes.c_double * 3).from_buffer(self._logs)

    def update(
        self, high: float, low: float, close: float, tick_volume: float, spread: float
    ) -> np.ndarray:
        """Take the next closed bar; return the features of the last ``window`` bars."""
        return np.array(self.push(high, low, close, tick_volume, spread), dtype=np.float64)

    def push(
        self, high: float, low: float, close: float, tick_volume: float, spread: float
    ) -> list[float]:
        """``update`` returning plain floats (the hot path: no array per bar); the bar's
        SERIES values as ``bar_series`` computes them."""
        try:
            ratio = high / low
        except ZeroDivisionError:
            ratio = math.inf if high > 0 else math.nan
        volume = float(tick_volume)
        logs = self._log_buffer  # written and read as C doubles: one numpy call, the log
        logs[:] = [close, ratio, volume if not volume <= 1.0 else 1.0]
        np.log(self._logs, out=self._logs)
        log_close, log_range, log_volume = logs[:]
        closes = self.buffers[0]
        returns = log_close - closes[-1] if closes else None
        return self.append((log_close, returns, log_range, log_volume, float(spread)))

    def rebuild(self, *columns: np.ndarray) -> list[float]:
        """Start over from FIELDS columns (oldest first); return the last bar's features."""
        recent = [np.asarray(column[-self.window :]) for column in columns]
        return self.refill(bar_series(*recent), bars=len(recent[2]))


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
    confidence: np.ndarray = np.nan_to_num(np.clip(np.abs(2.0 * p - 1.0), 0.0, 1.0), nan=0.0)
    return confidence


class LgbmMomentumModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper around a LightGBM booster stored in LightGBM's own text format.

    ``predict`` (the pyfunc contract) computes features in batch; ``decide`` (the worker's
    per-bar path) keeps a ``FeatureState`` per bar stream in a ``StreamCache``, which finds
    the stream a window continues by content: ``decide`` needs no symbol, and its result never
    depends on the order or the company in which it is called.
    """

    def __init__(self, names: Sequence[str] = FEATURE_NAMES) -> None:
        self.booster: lgb.Booster | None = None
        self.threshold: float = DEFAULT_THRESHOLD
        self.config: dict[str, Any] = {}
        self._predictor: RowPredictor | None = None
        self._lock = threading.Lock()
        self._set_names(names)

    def _set_names(self, names: Sequence[str]) -> None:
        parse_features(names)
        # The worker fetches ``window`` bars and journals features under ``feature_names``.
        self.feature_names: tuple[str, ...] = tuple(names)
        self.window: int = window_of(names)
        self._streams = StreamCache(
            self.window, FIELDS, functools.partial(FeatureState, self.feature_names)
        )

    @property
    def rebuilds(self) -> int:
        """Decisions that rebuilt a stream from its window (see ``StreamCache.rebuilds``)."""
        return self._streams.rebuilds

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
        parse_features(names)
        if booster.num_feature() != len(names):
            raise ValueError(
                f"booster has {booster.num_feature()} features, config names {len(names)}"
            )
        with self._lock:
            self._set_names(names)
            self.booster, self.config = booster, dict(config)
            self.threshold = float(config.get("threshold", DEFAULT_THRESHOLD))
            self._predictor = RowPredictor(booster, len(names))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One row per input bar: probability (NaN without history), signal, confidence."""
        if self.booster is None:
            raise RuntimeError("model not loaded: call load_context or load_artifacts first")
        frame = model_input.sort_values("time", kind="stable")
        features = frame_features(frame, self.feature_names)
        proba = np.full(features.shape[0], np.nan)
        ready = ~np.isnan(features).all(axis=1)
        if ready.any():
            proba[ready] = self.booster.predict(features[ready])
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
            probability = predictor.predict(self._streams.values(window))
            features = predictor.features.copy()
        # signal_from_probability and confidence_from_probability, for one float
        if probability > 0.5 + self.threshold:
            signal = 1
        elif probability < 0.5 - self.threshold:
            signal = -1
        else:
            signal = 0
        confidence = min(max(abs(2.0 * probability - 1.0), 0.0), 1.0)
        return Decision(signal, confidence, probability, features)


class LgbmMomentum:
    """This family as the ``models.strategy.Strategy`` that training and packaging take."""

    name = "lgbm_momentum"
    signature = SIGNATURE

    def __init__(self, names: Sequence[str] = FEATURE_NAMES) -> None:
        parse_features(names)
        self.feature_names = tuple(names)
        self.window = window_of(names)
        self.source = Path(__file__).resolve()

    def features(self, bars: pd.DataFrame) -> np.ndarray:
        return frame_features(bars, self.feature_names)

    def labels(self, close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """1.0 when the close ``horizon`` bars later is higher, else 0.0 (NaN at the tail)."""
        return forward_return_labels(close, horizon)

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any], rounds: int
    ) -> lgb.Booster:
        # feature names from the data: the canary adds a column, benchmarks use their own panels
        data = lgb.Dataset(
            X.to_numpy(np.float64),
            label=y,
            feature_name=[str(c) for c in X.columns],
            free_raw_data=True,
        )
        return lgb.train(dict(params), data, num_boost_round=rounds)

    def decide(self, probability: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        return signal_from_probability(probability, threshold), confidence_from_probability(
            probability
        )

    def input_example(self) -> pd.DataFrame:
        return input_example(self.window)

    def write_artifacts(
        self, booster: lgb.Booster, config: Mapping[str, Any], directory: Path
    ) -> dict[str, str]:
        """``booster.txt`` (LightGBM's text format) and ``config.json``, as ``load_context``
        reads them."""
        directory.mkdir(parents=True, exist_ok=True)
        booster_path, config_path = directory / BOOSTER_FILE, directory / CONFIG_FILE
        booster.save_model(str(booster_path))
        config_path.write_text(json.dumps(dict(config), indent=2, sort_keys=True))
        return {"booster": str(booster_path), "config": str(config_path)}


STRATEGY = LgbmMomentum()

mlflow.models.set_model(LgbmMomentumModel())
