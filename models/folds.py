"""Walk-forward folds as units of work: a plan per fold, a result per fold, and their union.

Each fold is fitted and predicted independently of the others, so a flow can run them one
after another or on a cluster. The plan carries row positions (cheap to ship) and the result
carries the booster as LightGBM's text model (picklable, hashable, the same bytes wherever it
was trained), which is what lets a parallel run be checked against a sequential one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.cv import HasLabelTimes, PurgedWalkForward

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldPlan:
    """One walk-forward fold: the rows to train on, the rows to test, the test window."""

    index: int
    train: np.ndarray
    test: np.ndarray
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def bounds(self) -> dict[str, str]:
        """The fold's test window as ISO strings (for a tracker)."""
        return {
            "fold": str(self.index),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
        }


@dataclass(frozen=True)
class FoldResult:
    """What one fold's fit and predict give back.

    Attributes:
        test: row positions the fold tested; ``proba`` their out-of-fold probabilities.
        metrics: numbers only (classification and trading metrics of the test rows).
        booster_text: the fold's booster in LightGBM's text format.
        importance: total gain per feature name (a leaked feature towers over the rest).
    """

    index: int
    test: np.ndarray
    proba: np.ndarray
    metrics: dict[str, float]
    bounds: dict[str, str]
    booster_text: str
    importance: dict[str, float]

    @property
    def booster_sha256(self) -> str:
        return hashlib.sha256(self.booster_text.encode()).hexdigest()

    def booster(self) -> lgb.Booster:
        return lgb.Booster(model_str=self.booster_text)


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-fold probabilities (NaN for rows never tested) and the folds that made them."""

    oof_proba: np.ndarray
    folds: list[FoldResult]

    @property
    def fold_metrics(self) -> list[dict[str, float]]:
        return [fold.metrics for fold in self.folds]

    @property
    def fold_bounds(self) -> list[dict[str, str]]:
        return [fold.bounds for fold in self.folds]

    def importance(self) -> pd.Series:
        """Gain per feature summed over the folds, largest first."""
        total = pd.concat([pd.Series(fold.importance) for fold in self.folds], axis=1)
        return total.sum(axis=1).sort_values(ascending=False)


def plan_folds(dataset: HasLabelTimes, cv: PurgedWalkForward) -> list[FoldPlan]:
    """The splitter's folds with their rows; folds left without train or test rows are skipped."""
    plans = []
    for fold, (train, test) in zip(cv.folds(dataset), cv.split(dataset), strict=True):
        if train.size == 0 or test.size == 0:
            logger.warning(
                "fold %d skipped: %d train, %d test rows", fold.index, train.size, test.size
            )
            continue
        plans.append(FoldPlan(fold.index, train, test, fold.test_start, fold.test_end))
    return plans


def combine_folds(n_rows: int, folds: Sequence[FoldResult]) -> WalkForwardResult:
    """Put each fold's predictions back at its rows; order the folds by index.

    Raises:
        ValueError: two folds tested the same row (the plan was not a walk-forward tiling).
    """
    ordered = sorted(folds, key=lambda fold: fold.index)
    oof = np.full(n_rows, np.nan)
    for fold in ordered:
        if not np.all(np.isnan(oof[fold.test])):
            raise ValueError(f"fold {fold.index} tests rows another fold already tested")
        oof[fold.test] = fold.proba
    return WalkForwardResult(oof_proba=oof, folds=ordered)
