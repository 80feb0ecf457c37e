"""The ``Strategy`` protocol: what training and packaging need from a model family.

A family lives in one file under ``models/strategies/`` (its features, labels, fit, decision
rule and pyfunc model), logged as that one file. Training, the dataset and packaging take a
strategy object as an argument and never import a family by name; flows choose the family.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature


class Fitted(Protocol):
    """A fitted model as training uses it: a LightGBM ``Booster`` is one, and a family with
    another library answers the same few calls (``models.strategies.sk_logistic.LogisticFit``)."""

    def predict(self, data: Any) -> Any:
        """Probability of the positive label per row of a feature matrix."""
        ...

    def feature_importance(self, importance_type: str = ...) -> np.ndarray:
        """One non-negative importance per feature (``"gain"`` asked for)."""
        ...

    def feature_name(self) -> list[str]:
        """The feature names, in column order."""
        ...

    def model_to_string(self) -> str:
        """The whole fitted model as text: its sha256 identifies what a version carries."""
        ...


class Strategy(Protocol):
    """A model family.

    Attributes:
        name: the family's name; also the name of the file its versions are logged as.
        feature_names: the features ``features`` computes, in column order.
        window: bars of history one decision needs, the bar decided on included.
        source: the family's file; ``models.packaging`` bundles it (with the repo modules it
            imports) into the one self-contained file a version carries.
        signature: the pyfunc's input and output schema.
    """

    name: str
    feature_names: tuple[str, ...]
    window: int
    source: Path
    signature: ModelSignature

    def features(self, bars: pd.DataFrame) -> np.ndarray:
        """Feature matrix (rows × ``feature_names``) of one symbol's bars (MT5 rate columns,
        oldest first); row t reads bars <= t only and is NaN until a full window."""
        ...

    def labels(self, close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """``(y, label_end_idx)``: the target per bar and the bar whose close it reads last
        (cross-validation purges on it); y is NaN where the label is unknown."""
        ...

    def fit(self, X: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any], rounds: int) -> Fitted:
        """A model fitted on the rows given (deterministic for the same inputs)."""
        ...

    def decide(self, probability: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """``(signal, confidence)`` per row: the rule the model's ``decide`` applies per bar,
        vectorised, so the backtest trades what the worker would."""
        ...

    def input_example(self) -> pd.DataFrame:
        """A small valid input frame for the logged model."""
        ...

    def write_artifacts(
        self, booster: Any, config: Mapping[str, Any], directory: Path
    ) -> dict[str, str]:
        """Write what the model's ``load_context`` reads into ``directory``; return the
        artifacts map (name → path) for ``mlflow.pyfunc.log_model``. No pickle.

        ``booster`` is what this strategy's ``fit`` returned (typed ``Any`` so each family
        may name its own type here)."""
        ...
