"""Purged walk-forward cross-validation with an embargo, written by hand on purpose.

Financial labels overlap in time: a label that reads the close 6 bars ahead leaks the test
fold's prices into training if its window reaches the fold. The splitter cuts the time axis
into ``n_splits + 1`` blocks; fold k trains on everything before block k+1 and tests on it
(an expanding window, never training on the future). Training rows are *purged* when their
label ends at or after ``test_start - embargo``, which also leaves an embargo gap before the
fold, so serially correlated features near the boundary do not leak either. Because training
never reaches past a test fold, nothing in the embargo after a fold is used for training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd


def utc_values(times: pd.Series) -> np.ndarray:
    """datetime64[ns] values in UTC (naive) of a tz-aware Series, for fast numpy comparisons."""
    return pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")


class HasLabelTimes(Protocol):
    """What the splitter reads: the time of each row and the time its label ends."""

    times: pd.Series
    label_end_times: pd.Series


@dataclass(frozen=True)
class Fold:
    """Boundaries of one test fold, for logging per-fold metrics."""

    index: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp


@dataclass(frozen=True)
class PurgedWalkForward:
    """Expanding-window walk-forward splitter with purging and embargo.

    Attributes:
        n_splits: number of test folds.
        embargo: gap between the last training label end and each test fold start.
    """

    n_splits: int = 5
    embargo: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(hours=24))

    def __post_init__(self) -> None:
        if self.n_splits < 1:
            raise ValueError(f"n_splits must be >= 1, got {self.n_splits}")
        if pd.Timedelta(self.embargo) < pd.Timedelta(0):
            raise ValueError(f"embargo must be >= 0, got {self.embargo}")

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """sklearn-style number of folds."""
        return self.n_splits

    def folds(self, X: HasLabelTimes) -> list[Fold]:
        """Test-fold boundaries: ``n_splits + 1`` equal blocks of distinct times, first is train."""
        unique = np.unique(utc_values(X.times))
        if unique.size < self.n_splits + 1:
            raise ValueError(f"{unique.size} distinct times cannot make {self.n_splits} folds")
        edges = np.linspace(0, unique.size, self.n_splits + 2).astype(int)
        out: list[Fold] = []
        for k in range(self.n_splits):
            start, stop = edges[k + 1], edges[k + 2]
            out.append(
                Fold(
                    index=k,
                    test_start=pd.Timestamp(unique[start]).tz_localize("UTC"),
                    test_end=pd.Timestamp(unique[stop - 1]).tz_localize("UTC"),
                )
            )
        return out

    def split(
        self, X: HasLabelTimes, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` integer positions, sklearn-style.

        ``X`` is anything with ``times`` and ``label_end_times`` (a ``models.dataset.Dataset``).
        """
        times = utc_values(X.times)
        ends = utc_values(X.label_end_times)
        embargo = pd.Timedelta(self.embargo).to_timedelta64()
        for fold in self.folds(X):
            start = fold.test_start.tz_convert(None).to_datetime64()
            stop = fold.test_end.tz_convert(None).to_datetime64()
            test = np.flatnonzero((times >= start) & (times <= stop))
            train = np.flatnonzero((times < start) & (ends < start - embargo))
            yield train, test
