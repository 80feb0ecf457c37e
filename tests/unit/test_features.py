"""Features at bar t use bars <= t only, and line up with the bar they describe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts.synthetic import generate_market
from models.features import features_frame
from models.strategies.lgbm_momentum import FEATURE_NAMES, STRATEGY, WINDOW, build_features


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return generate_market(n_days=60, symbols=("EURUSD",), delisted=None).bars["EURUSD"]


def test_changing_every_bar_after_t_leaves_features_at_t_unchanged(bars: pd.DataFrame) -> None:
    t = 500
    before = features_frame(STRATEGY, bars).to_numpy()
    rng = np.random.default_rng(0)
    future = bars.copy()
    tail = future.index > t
    for column in ("open", "high", "low", "close"):
        future.loc[tail, column] *= np.exp(rng.normal(0, 0.05, tail.sum()))
    future.loc[tail, "tick_volume"] = rng.integers(1, 10_000, tail.sum())
    future.loc[tail, "spread"] = rng.integers(1, 500, tail.sum())
    after = features_frame(STRATEGY, future).to_numpy()
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    assert not np.allclose(after[t + 1 :], before[t + 1 :], equal_nan=True)


def test_features_are_nan_until_a_full_window_then_finite(bars: pd.DataFrame) -> None:
    values = features_frame(STRATEGY, bars)
    assert list(values.columns) == list(FEATURE_NAMES)
    assert values.iloc[: WINDOW - 1].isna().all().all()
    assert np.isfinite(values.iloc[WINDOW - 1 :].to_numpy()).all()


def test_features_of_a_window_equal_features_of_the_full_history(bars: pd.DataFrame) -> None:
    columns = [bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")]
    extra = [bars["tick_volume"].to_numpy(np.float64), bars["spread"].to_numpy(np.float64)]
    full = build_features(*columns, *extra)
    for end in (WINDOW, 300, len(bars)):
        window = build_features(*(c[end - WINDOW : end] for c in columns + extra))
        np.testing.assert_array_equal(window[-1], full[end - 1])


def test_one_bar_momentum_is_the_last_log_return_over_trailing_volatility(
    bars: pd.DataFrame,
) -> None:
    values = features_frame(STRATEGY, bars)
    close = bars["close"].to_numpy()
    t = 200
    returns = np.diff(np.log(close[t - 48 : t + 1]))
    expected = np.log(close[t] / close[t - 1]) / returns.std()
    assert values["mom_1"].iloc[t] == pytest.approx(expected, rel=1e-12)
