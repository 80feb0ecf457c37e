"""Properties of the purged walk-forward splitter, for both window kinds and both input forms."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from models.cv import PurgedWalkForward, utc_values


@dataclass
class Panel:
    times: pd.Series
    label_end_times: pd.Series


@st.composite
def panels(draw: st.DrawFn) -> Panel:
    """A panel with irregular bar times and label horizons that differ row by row."""
    n_times = draw(st.integers(12, 80))
    n_symbols = draw(st.integers(1, 3))
    gaps = draw(st.lists(st.integers(1, 5), min_size=n_times, max_size=n_times))
    grid = np.datetime64("2023-01-02T00:00", "ns") + np.cumsum(gaps).astype("timedelta64[h]")
    times = np.repeat(grid, n_symbols)
    horizons = draw(
        st.lists(st.integers(0, 10), min_size=times.size, max_size=times.size).map(np.array)
    )
    ends = times + horizons.astype("timedelta64[h]")
    return Panel(
        pd.Series(pd.DatetimeIndex(times, tz="UTC")), pd.Series(pd.DatetimeIndex(ends, tz="UTC"))
    )


splitters = st.builds(
    PurgedWalkForward,
    n_splits=st.integers(1, 6),
    embargo=st.integers(0, 12).map(lambda h: pd.Timedelta(hours=h)),
    window=st.sampled_from(["expanding", "rolling"]),
    max_train_length=st.integers(1, 100).map(lambda h: pd.Timedelta(hours=h)),
)


@settings(max_examples=50, deadline=None)
@given(panel=panels(), cv=splitters)
def test_no_training_label_window_overlaps_a_test_window_or_its_embargo(
    panel: Panel, cv: PurgedWalkForward
) -> None:
    times, ends = utc_values(panel.times), utc_values(panel.label_end_times)
    for train, test in cv.split(panel):
        test_start, test_label_end = times[test].min(), ends[test].max()
        overlaps = (ends[train] >= test_start - cv.embargo.to_timedelta64()) & (
            times[train] <= test_label_end
        )
        assert not overlaps.any()
        assert not np.intersect1d(train, test).size


@settings(max_examples=50, deadline=None)
@given(panel=panels(), cv=splitters)
def test_nothing_trains_inside_the_embargo_after_a_test_fold(
    panel: Panel, cv: PurgedWalkForward
) -> None:
    times = utc_values(panel.times)
    for train, test in cv.split(panel):
        test_end = times[test].max()
        after = (times[train] > test_end) & (times[train] <= test_end + cv.embargo.to_timedelta64())
        assert not after.any()


@settings(max_examples=50, deadline=None)
@given(panel=panels(), cv=splitters)
def test_every_row_after_the_first_block_is_tested_exactly_once(
    panel: Panel, cv: PurgedWalkForward
) -> None:
    times = utc_values(panel.times)
    tests = [test for _, test in cv.split(panel)]
    assert len(tests) == cv.get_n_splits()
    tested = np.concatenate(tests)
    assert np.unique(tested).size == tested.size
    expected = np.flatnonzero(times >= times[tests[0]].min())
    np.testing.assert_array_equal(np.sort(tested), expected)
    assert all(times[a].max() < times[b].min() for a, b in pairwise(tests))


@settings(max_examples=50, deadline=None)
@given(panel=panels(), cv=splitters)
def test_rolling_window_keeps_at_most_its_length_of_history(
    panel: Panel, cv: PurgedWalkForward
) -> None:
    times = utc_values(panel.times)
    for train, test in cv.split(panel):
        if cv.window == "rolling" and train.size:
            assert times[test].min() - times[train].min() <= pd.Timedelta(cv.max_train_length)


def test_rolling_window_trains_on_less_than_the_expanding_one() -> None:
    grid = pd.date_range("2023-01-02", periods=600, freq="h", tz="UTC")
    panel = Panel(pd.Series(grid), pd.Series(grid + pd.Timedelta(hours=6)))
    expanding = [t.size for t, _ in PurgedWalkForward(n_splits=4).split(panel)]
    rolling = PurgedWalkForward(
        n_splits=4, window="rolling", max_train_length=pd.Timedelta(hours=100)
    )
    sizes = [t.size for t, _ in rolling.split(panel)]
    assert sizes[1:] == [sizes[1]] * 3 and sizes[1] < expanding[1] < expanding[-1]


def test_split_accepts_label_times_for_plain_arrays_like_a_sklearn_splitter() -> None:
    rng = np.random.default_rng(0)
    grid = pd.date_range("2023-01-02", periods=300, freq="h", tz="UTC")
    label_times = pd.Series(grid + pd.Timedelta(hours=4), index=grid)
    X, y = rng.normal(size=(300, 3)), rng.integers(0, 2, 300)
    cv = PurgedWalkForward(n_splits=3, embargo=pd.Timedelta(hours=2), label_times=label_times)
    panel = Panel(pd.Series(grid), pd.Series(label_times.to_numpy()))
    for (a_train, a_test), (b_train, b_test) in zip(cv.split(X, y), cv.split(panel), strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
    scores = cross_val_score(LogisticRegression(), X, y, cv=cv, scoring="roc_auc")
    assert scores.shape == (3,)


def test_bad_inputs_are_refused() -> None:
    grid = pd.date_range("2023-01-02", periods=30, freq="h")
    with pytest.raises(ValueError, match="rolling"):
        PurgedWalkForward(window="rolling")
    with pytest.raises(TypeError, match="label_times"):
        list(PurgedWalkForward(n_splits=2).split(np.zeros((30, 1))))
    with pytest.raises(ValueError, match="timezone"):
        list(PurgedWalkForward(n_splits=2).split(Panel(pd.Series(grid), pd.Series(grid))))
    aware = pd.Series(grid.tz_localize("UTC"))
    with pytest.raises(ValueError, match="before its row"):
        list(PurgedWalkForward(n_splits=2).split(Panel(aware, aware - pd.Timedelta(hours=1))))
