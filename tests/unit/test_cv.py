"""Purged walk-forward folds never let a training label reach into (or near) a test fold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.cv import PurgedWalkForward


@dataclass
class Panel:
    times: pd.Series
    label_end_times: pd.Series


def make_panel(n_times: int, n_symbols: int, horizon: int) -> Panel:
    grid = pd.date_range("2022-01-03", periods=n_times + horizon, freq="h", tz="UTC")
    times = pd.Series(np.repeat(grid[:n_times], n_symbols))
    ends = pd.Series(np.repeat(grid[horizon : n_times + horizon], n_symbols))
    return Panel(times, ends)


@settings(max_examples=40, deadline=None)
@given(
    n_times=st.integers(60, 400),
    n_symbols=st.integers(1, 4),
    horizon=st.integers(1, 12),
    n_splits=st.integers(1, 6),
    embargo_hours=st.integers(0, 30),
)
def test_no_training_label_ends_inside_the_embargo_or_after_a_test_fold(
    n_times: int, n_symbols: int, horizon: int, n_splits: int, embargo_hours: int
) -> None:
    panel = make_panel(n_times, n_symbols, horizon)
    embargo = pd.Timedelta(hours=embargo_hours)
    cv = PurgedWalkForward(n_splits=n_splits, embargo=embargo)
    folds = cv.folds(panel)
    splits = list(cv.split(panel))
    assert len(splits) == n_splits == cv.get_n_splits()
    for fold, (train, test) in zip(folds, splits, strict=True):
        test_start = panel.times.iloc[test].min()
        test_end = panel.times.iloc[test].max()
        assert test_start == fold.test_start and test_end == fold.test_end
        assert (panel.label_end_times.iloc[train] < test_start - embargo).all()
        train_times = panel.times.iloc[train]
        after_fold = (train_times > test_end) & (train_times <= test_end + embargo)
        assert not after_fold.any()
        assert not np.intersect1d(train, test).size


def test_test_folds_tile_the_time_axis_after_the_first_block() -> None:
    panel = make_panel(600, 3, 6)
    splits = list(PurgedWalkForward(n_splits=5, embargo=pd.Timedelta(hours=24)).split(panel))
    tested = np.sort(np.concatenate([test for _, test in splits]))
    first_test_time = panel.times.iloc[splits[0][1]].min()
    expected = np.flatnonzero((panel.times >= first_test_time).to_numpy())
    np.testing.assert_array_equal(tested, expected)


def test_training_window_expands_fold_after_fold() -> None:
    panel = make_panel(600, 2, 6)
    sizes = [train.size for train, _ in PurgedWalkForward(n_splits=4).split(panel)]
    assert sizes == sorted(sizes) and sizes[0] > 0


def test_purge_drops_exactly_the_labels_that_overlap_the_fold() -> None:
    panel = make_panel(120, 1, 6)
    cv = PurgedWalkForward(n_splits=2, embargo=pd.Timedelta(0))
    train, test = next(iter(cv.split(panel)))
    test_start = panel.times.iloc[test].min()
    before = np.flatnonzero((panel.times < test_start).to_numpy())
    # six rows before the fold have labels reading bars inside it
    assert before.size - train.size == 6


def test_too_few_times_for_the_folds_is_an_error() -> None:
    with pytest.raises(ValueError, match="distinct times"):
        list(PurgedWalkForward(n_splits=5).split(make_panel(4, 1, 1)))
