"""Purged walk-forward cross-validation with an embargo, written by hand on purpose.

Financial labels overlap in time: a label that reads the close 6 bars ahead leaks the test
fold's prices into training if its window reaches the fold. The splitter cuts the time axis
into ``n_splits + 1`` blocks; fold k trains on what lies before block k+1 and tests on it
(never training on the future). The window either expands (all history) or rolls (at most
``max_train_length`` of history, for regimes that make old data misleading). Training rows are
*purged* when their label window ``[time, label_end]`` overlaps the test fold or ends inside
the ``embargo`` before it, so serially correlated features near the boundary do not leak
either. Training never reaches past a test fold, so nothing in the embargo *after* a fold is
used for training; the splitter still enforces it, should a caller widen the training set.

skfolio has such splitters but cannot be installed beside evidently (plotly pins), hence ours.
The splitter is sklearn-compatible: ``split(X, y, groups)`` reads label windows from ``X``
(``times``/``label_end_times`` attributes, as ``models.dataset.Dataset`` has) or from
``label_times`` given at construction (a Series: index = row time, values = label end), so it
can be passed as ``cv=`` to ``cross_val_score`` and friends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from models.errors import NotEnoughBarsError


def utc_values(times: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """datetime64[ns] values in UTC (naive) of tz-aware times, for fast numpy comparisons.

    Raises:
        ValueError: the times are naive (their zone would be a guess).
    """
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        raise ValueError("times must be timezone-aware (UTC); naive times are refused as a guess")
    return index.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")


class HasLabelTimes(Protocol):
    """What the splitter reads: the time of each row and the time its label ends.

    Read-only properties, so a frozen dataclass (``Dataset``) satisfies it.
    """

    @property
    def times(self) -> pd.Series: ...

    @property
    def label_end_times(self) -> pd.Series: ...


@dataclass(frozen=True)
class Fold:
    """Boundaries of one test fold, for logging per-fold metrics."""

    index: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp


@dataclass(frozen=True)
class PurgedWalkForward:
    """Walk-forward splitter (expanding or rolling window) with purging and embargo.

    Attributes:
        n_splits: number of test folds.
        embargo: gap between the last training label end and each test fold start, and
            after each test fold's end before training may resume.
        window: ``"expanding"`` trains on all earlier rows; ``"rolling"`` on rows at most
            ``max_train_length`` older than the test fold start.
        max_train_length: history a rolling window keeps (required for ``"rolling"``).
        label_times: label windows for plain arrays ``X`` (index = row time, values = label
            end time, one per row of ``X``, tz-aware); ignored when ``X`` carries its own.
    """

    n_splits: int = 5
    embargo: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(hours=24))
    window: Literal["expanding", "rolling"] = "expanding"
    max_train_length: pd.Timedelta | None = None
    label_times: pd.Series | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_splits < 1:
            raise ValueError(f"n_splits must be >= 1, got {self.n_splits}")
        if pd.Timedelta(self.embargo) < pd.Timedelta(0):
            raise ValueError(f"embargo must be >= 0, got {self.embargo}")
        if self.window not in ("expanding", "rolling"):
            raise ValueError(f"window must be 'expanding' or 'rolling', got {self.window!r}")
        if self.window == "rolling" and (
            self.max_train_length is None or pd.Timedelta(self.max_train_length) <= pd.Timedelta(0)
        ):
            raise ValueError("a rolling window needs a positive max_train_length")

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """sklearn-style number of folds."""
        return self.n_splits

    def label_windows(self, X: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(row times, label end times) as UTC datetime64 arrays, from ``X`` or ``label_times``.

        Raises:
            TypeError: neither ``X`` nor the splitter carries label times.
            ValueError: lengths disagree or a label ends before its row starts.
        """
        if hasattr(X, "times") and hasattr(X, "label_end_times"):
            times, ends = utc_values(X.times), utc_values(X.label_end_times)
        elif self.label_times is not None:
            times = utc_values(self.label_times.index)
            ends = utc_values(self.label_times.to_numpy())
            if X is not None and len(X) != times.size:
                raise ValueError(f"X has {len(X)} rows but label_times has {times.size}")
        else:
            raise TypeError("pass X with times/label_end_times, or label_times to the splitter")
        if times.size != ends.size:
            raise ValueError(f"{times.size} row times but {ends.size} label end times")
        if np.any(ends < times):
            raise ValueError("a label cannot end before its row starts")
        return times, ends

    def _folds_of(self, times: np.ndarray) -> list[Fold]:
        unique = np.unique(times)
        if unique.size < self.n_splits + 1:
            raise NotEnoughBarsError(
                f"{unique.size} distinct times cannot make {self.n_splits} folds"
            )
        edges = np.linspace(0, unique.size, self.n_splits + 2).astype(int)
        return [
            Fold(
                index=k,
                test_start=pd.Timestamp(unique[edges[k + 1]]).tz_localize("UTC"),
                test_end=pd.Timestamp(unique[edges[k + 2] - 1]).tz_localize("UTC"),
            )
            for k in range(self.n_splits)
        ]

    def folds(self, X: Any = None) -> list[Fold]:
        """Test-fold boundaries: ``n_splits + 1`` equal blocks of distinct times, first is train."""
        return self._folds_of(self.label_windows(X)[0])

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` integer positions, sklearn-style.

        Test folds tile the rows from the second block on, each row tested exactly once.
        """
        times, ends = self.label_windows(X)
        embargo = pd.Timedelta(self.embargo).to_timedelta64()
        lookback = (
            pd.Timedelta(self.max_train_length).to_timedelta64()
            if self.window == "rolling" and self.max_train_length is not None
            else None
        )
        for fold in self._folds_of(times):
            start = fold.test_start.tz_convert(None).to_datetime64()
            stop = fold.test_end.tz_convert(None).to_datetime64()
            in_test = (times >= start) & (times <= stop)
            test_label_end = ends[in_test].max()
            # purge: the label window [time, end] touches [start - embargo, test_label_end]
            overlaps = (ends >= start - embargo) & (times <= test_label_end)
            after_embargo = (times > stop) & (times <= stop + embargo)
            candidates = times < start
            if lookback is not None:
                candidates &= times >= start - lookback
            train = np.flatnonzero(candidates & ~in_test & ~overlaps & ~after_embargo)
            yield train, np.flatnonzero(in_test)
