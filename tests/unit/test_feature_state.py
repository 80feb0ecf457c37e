"""Features kept bar by bar (``FeatureState``) equal the batch features of the same bars.

Agreement is to 1e-12 relative, except where the batch value is itself a difference of two
nearly equal numbers: ``ma_gap`` (a log close minus its mean) and ``volume_z`` (a log volume
minus its mean). There both paths round the mean once and then divide a tiny difference by a
small std, so they may differ by a few roundings of the mean, scaled by 1/std — the batch
path's own rounding, not the incremental path's error. ``tolerance`` says exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench._decision_models import NAMES_30  # the decision-path benchmark's 30 features
from models.strategies.lgbm_momentum import (
    FEATURE_NAMES,
    WINDOW,
    FeatureState,
    build_features,
    parse_features,
    window_of,
)
from models.stream_terms import StreamStats
from tests.factories import Bars, make_bar_arrays

EPS = np.finfo(np.float64).eps


@st.composite
def bar_sets(draw: st.DrawFn) -> Bars:
    low_volume = draw(st.sampled_from([0, 1, 50, 900]))
    return make_bar_arrays(
        draw(st.integers(WINDOW, 4 * WINDOW)),
        draw(st.integers(0, 2**32 - 1)),
        price=draw(st.sampled_from([0.62, 1.1, 115.0, 1_800.0, 60_000.0])),
        sigma=draw(st.sampled_from([1e-5, 1e-3, 2e-2])),
        flat=draw(st.sampled_from([0.0, 0.0, 0.5, 0.95, 1.0])),
        volumes=(low_volume, low_volume + draw(st.sampled_from([0, 1, 3, 5_000]))),
        spreads=draw(st.sampled_from([(0, 0), (12, 12), (5, 25), (0, 3)])),
    )


def tolerance(bars: Bars, t: int, names: tuple[str, ...], batch_row: np.ndarray) -> np.ndarray:
    """Allowed |incremental - batch| per feature at bar ``t`` (see the module docstring)."""
    _, _, _, close, tick_volume, _ = bars
    log_close = np.log(close[: t + 1])
    returns = np.diff(log_close)
    log_volume = np.log(np.maximum(tick_volume[: t + 1], 1.0))
    scale = np.zeros(len(names))
    for i, spec in enumerate(parse_features(names)):
        if spec.kind == "ma_gap":
            std = returns[-spec.length :].std()
            scale[i] = abs(log_close[-1]) / std if std > 0 else 0.0
        elif spec.kind == "volume_z":
            std = log_volume[-spec.length :].std()
            scale[i] = abs(log_volume[-1]) / std if std > 0 else 0.0
    return 1e-12 * np.abs(np.nan_to_num(batch_row)) + 8 * EPS * scale


def assert_incremental_equals_batch(bars: Bars, names: tuple[str, ...]) -> None:
    _, high, low, close, tick_volume, spread = bars
    batch = build_features(*bars, names=names)
    state = FeatureState(names)
    for t in range(len(close)):
        got = state.update(high[t], low[t], close[t], tick_volume[t], spread[t])
        want = batch[t]
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"bar {t}")
        both = ~np.isnan(want)
        with np.errstate(invalid="ignore"):
            off = np.abs(got - want)
        tol = tolerance(bars, t, names, want)
        bad = both & ~(off <= tol) & ~(got == want)  # equal infinities are fine
        assert not bad.any(), (
            f"bar {t}: {[n for n, b in zip(names, bad, strict=True) if b]} "
            f"got {got[bad]} want {want[bad]} tol {tol[bad]}"
        )


@settings(max_examples=60, deadline=None)
@given(bars=bar_sets())
def test_incremental_features_equal_the_batch_features_bar_by_bar(bars: Bars) -> None:
    assert_incremental_equals_batch(bars, FEATURE_NAMES)


@settings(max_examples=25, deadline=None)
@given(bars=bar_sets())
def test_a_thirty_feature_set_is_kept_incrementally_like_the_batch(bars: Bars) -> None:
    assert window_of(NAMES_30) == WINDOW
    assert_incremental_equals_batch(bars, NAMES_30)


@settings(max_examples=40, deadline=None)
@given(
    names=st.lists(
        st.one_of(
            st.builds(
                lambda kind, n: f"{kind}_{n}",
                st.sampled_from(["mom", "range", "spread_ratio"]),
                st.integers(1, 60),
            ),
            st.builds(
                lambda kind, n: f"{kind}_{n}",
                st.sampled_from(["vol", "ma_gap", "volume_z"]),
                st.integers(2, 60),
            ),
            st.builds(lambda a, b: f"vol_ratio_{a}_{b}", st.integers(2, 60), st.integers(2, 60)),
        ),
        min_size=1,
        max_size=8,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_named_feature_set_is_kept_incrementally_like_the_batch(
    names: list[str], seed: int
) -> None:
    chosen = tuple(names)
    assert_incremental_equals_batch(make_bar_arrays(window_of(chosen) + 80, seed), chosen)


@settings(max_examples=40, deadline=None)
@given(bars=bar_sets())
def test_the_numpy_row_of_the_buffers_is_bit_equal_to_the_batch_row(bars: Bars) -> None:
    # what a near-constant window falls back to: the batch formulas on the trailing values
    _, high, low, close, tick_volume, spread = bars
    batch = build_features(*bars)
    state = FeatureState()
    for t in range(len(close)):
        state.push(high[t], low[t], close[t], tick_volume[t], spread[t])
        if t >= WINDOW - 1 and t % 5 == 0:
            np.testing.assert_array_equal(state.numpy_row(), batch[t])


@settings(max_examples=40, deadline=None)
@given(bars=bar_sets(), cut=st.integers(0, 3 * WINDOW))
def test_rebuilding_from_a_window_equals_pushing_every_bar(bars: Bars, cut: int) -> None:
    _, high, low, close, tick_volume, spread = bars
    end = max(WINDOW, min(cut, len(close)))
    pushed = FeatureState()
    for t in range(end):
        values = pushed.push(high[t], low[t], close[t], tick_volume[t], spread[t])
    rebuilt = FeatureState().rebuild(
        high[:end], low[:end], close[:end], tick_volume[:end], spread[:end]
    )
    want = build_features(*bars)[end - 1]
    tol = tolerance(bars, end - 1, FEATURE_NAMES, want)
    for got in (values, rebuilt):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        ok = np.isnan(want) | (np.abs(np.asarray(got) - want) <= tol) | (np.asarray(got) == want)
        assert ok.all()


def test_a_constant_volume_window_falls_back_to_the_batch_arithmetic() -> None:
    # 24 equal volumes: numpy's std is rounding noise (or 0); the state reproduces it exactly
    bars = make_bar_arrays(3 * WINDOW, 5, volumes=(1_234, 1_234))
    batch = build_features(*bars)
    state = FeatureState()
    _, high, low, close, tick_volume, spread = bars
    for t in range(len(close)):
        got = state.update(high[t], low[t], close[t], tick_volume[t], spread[t])
    np.testing.assert_array_equal(got, batch[-1])


def test_features_are_nan_until_a_full_window_has_been_pushed() -> None:
    _, high, low, close, tick_volume, spread = make_bar_arrays(WINDOW, 1)
    state = FeatureState()
    for t in range(WINDOW - 1):
        assert np.isnan(state.update(high[t], low[t], close[t], tick_volume[t], spread[t])).all()
        assert not state.ready
    last = state.update(high[-1], low[-1], close[-1], tick_volume[-1], spread[-1])
    assert state.ready
    assert np.isfinite(last).all()


def test_rounding_does_not_accumulate_over_a_long_stream() -> None:
    bars = make_bar_arrays(20_000, 11, price=115.0)
    _, high, low, close, tick_volume, spread = bars
    state = FeatureState()
    for t in range(len(close)):
        got = state.update(high[t], low[t], close[t], tick_volume[t], spread[t])
    want = build_features(*(column[-WINDOW:] for column in bars))[-1]
    assert (np.abs(got - want) <= tolerance(bars, len(close) - 1, FEATURE_NAMES, want)).all()


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("momentum_3",), "unknown feature"),
        (("vol_1",), "shorter than 2"),
        (("vol_ratio_6",), "wrong number of windows"),
        (("mom_3_4",), "wrong number of windows"),
        ((), "no features"),
    ],
)
def test_names_this_file_cannot_compute_are_refused(names: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_features(names)


def test_the_production_window_is_the_longest_lookback_plus_the_bar() -> None:
    assert WINDOW == 49 == window_of(FEATURE_NAMES)
    assert window_of(("mom_60",)) == 61
    assert window_of(("range_5",)) == 5
    assert math.isclose(window_of(("vol_ratio_6_24",)), 25)


class CalledState(FeatureState):
    """A state that takes each bar through ``Rolling``'s methods, one call each."""

    def append(self, values: Sequence[float | None]) -> list[float]:
        return self.append_by_calls(values)


def window_states(state: FeatureState) -> list[tuple[float, ...]]:
    return [(w.anchor, w.s1, w.s2, w.sd, w.peak, w.countdown) for w in state.windows]


@settings(max_examples=40, deadline=None)
@given(bars=bar_sets(), thirty=st.booleans(), start=st.integers(0, 3 * WINDOW))
def test_the_generated_step_is_the_rolling_calls_bit_for_bit(
    bars: Bars, thirty: bool, start: int
) -> None:
    """Every bar's features and every window's sums, from a fresh state or one rebuilt
    part-way (``start``), as floats' bytes: NaN where NaN, equal elsewhere."""
    names = NAMES_30 if thirty else FEATURE_NAMES
    _, high, low, close, tick_volume, spread = bars
    states = [FeatureState(names), CalledState(names)]
    cut = min(start, len(close))
    if cut >= 2:
        for state in states:
            state.rebuild(*(np.asarray(c[:cut]) for c in (high, low, close, tick_volume, spread)))
    for t in range(cut, len(close)):
        fast, called = (
            s.push(high[t], low[t], close[t], tick_volume[t], spread[t]) for s in states
        )
        assert np.asarray(fast).tobytes() == np.asarray(called).tobytes(), f"bar {t}"
        assert window_states(states[0]) == window_states(states[1]), f"bar {t}"
        assert states[0].count == states[1].count


def test_series_names_the_generated_functions_use_are_refused() -> None:
    for name in ("rows", "_d", "sqrt", "_x0"):
        with pytest.raises(ValueError, match="cannot name a buffer"):
            StreamStats([name])
