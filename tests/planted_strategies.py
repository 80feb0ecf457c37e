"""Strategies written for the look-ahead tests, each clean but for one planted defect.

Each computes a few plain pandas features of one symbol's bars and fits LightGBM like the
shipped family (so the signal check and the retraining run them as they run any strategy);
``defect`` adds one column that reads the future or depends on where the history starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.labels import forward_return_labels
from models.strategies import lgbm_momentum

Column = Callable[[pd.DataFrame], pd.Series]


def _log_close(bars: pd.DataFrame) -> pd.Series:
    return np.log(bars["close"].astype(np.float64))


def _returns(bars: pd.DataFrame) -> pd.Series:
    return _log_close(bars).diff()


CLEAN: dict[str, Column] = {
    "ret_1": _returns,
    "mom_6": lambda b: _log_close(b).diff(6),
    "vol_12": lambda b: _returns(b).rolling(12).std(),
}

DEFECTS: dict[str, tuple[str, Column]] = {
    # the next bar's return: reads one bar ahead
    "shift_minus_one": ("next_ret", lambda b: _returns(b).shift(-1)),
    # a moving average centred on the bar: reads 5 bars ahead
    "centred_window": (
        "ma_gap_centred",
        lambda b: _log_close(b) - _log_close(b).rolling(11, center=True).mean(),
    ),
    # a z-score over the whole sample: every row reads every later bar
    "whole_sample_norm": (
        "ret_z",
        lambda b: (_returns(b) - _returns(b).mean()) / _returns(b).std(),
    ),
    # a clean 40-bar window in a strategy that declares 13 bars of history
    "short_warmup": ("mean_40", lambda b: _returns(b).rolling(40).mean()),
    # an exponential average: every bar it has seen leaves a trace
    "ewm_memory": ("ewm_ret", lambda b: _returns(b).ewm(alpha=0.02, adjust=False).mean()),
}


class PlantedStrategy:
    """A small LightGBM strategy: ``CLEAN`` features plus ``DEFECTS[defect]`` (if any)."""

    signature = lgbm_momentum.SIGNATURE
    source = Path(__file__).resolve()

    def __init__(self, defect: str | None = None, window: int = 13) -> None:
        self.name = f"planted_{defect or 'clean'}"
        self.columns = dict(CLEAN)
        if defect is not None:
            column, formula = DEFECTS[defect]
            self.columns[column] = formula
        self.feature_names = tuple(self.columns)
        self.window = window

    def features(self, bars: pd.DataFrame) -> np.ndarray:
        frame = pd.DataFrame({name: f(bars) for name, f in self.columns.items()})
        values = frame.to_numpy(np.float64)
        values[: self.window - 1] = np.nan
        return values

    def labels(self, close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return forward_return_labels(close, horizon)

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any], rounds: int
    ) -> lgb.Booster:
        data = lgb.Dataset(X.to_numpy(np.float64), label=y, feature_name=list(X.columns))
        return lgb.train(dict(params), data, num_boost_round=rounds)

    def decide(self, probability: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        return (
            lgbm_momentum.signal_from_probability(probability, threshold),
            lgbm_momentum.confidence_from_probability(probability),
        )

    def input_example(self) -> pd.DataFrame:
        return lgbm_momentum.input_example(self.window)

    def write_artifacts(
        self, booster: lgb.Booster, config: Mapping[str, Any], directory: Path
    ) -> dict[str, str]:
        raise AssertionError("a planted strategy must never reach packaging")
