"""Drift statistics match scipy, and the drift table sees the synthetic regime change (only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, wasserstein_distance

from data_contracts.synthetic import generate_market
from models.dataset import Dataset, build_dataset
from models.drift import any_drift, drift_table, ks_statistic, psi, wasserstein
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, holdout_start_time


@pytest.fixture(scope="module")
def market_panel() -> tuple[Dataset, pd.Timestamp]:
    market = generate_market()
    data = build_dataset(STRATEGY, market.bars, horizon=6, points=market.points)
    return data, pd.Timestamp(market.regime_change_at)


samples = st.lists(
    st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 1)), min_size=2, max_size=80
)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_ks_and_wasserstein_match_scipy_including_ties(a: list[float], b: list[float]) -> None:
    ks, pvalue = ks_statistic(np.array(a), np.array(b))
    expected = ks_2samp(a, b, method="asymp")
    assert ks == pytest.approx(expected.statistic, abs=1e-12)
    assert pvalue == pytest.approx(expected.pvalue, abs=1e-9)
    assert wasserstein(np.array(a), np.array(b)) == pytest.approx(
        wasserstein_distance(a, b), abs=1e-9
    )


def test_statistics_match_scipy_on_large_continuous_samples() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.1, 1.2, 3000)
    ks, pvalue = ks_statistic(a, b)
    expected = ks_2samp(a, b, method="asymp")
    assert ks == pytest.approx(expected.statistic, abs=1e-12)
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert wasserstein(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-9)


def test_psi_is_zero_for_identical_samples_and_grows_with_shift() -> None:
    rng = np.random.default_rng(6)
    ref = rng.normal(0, 1, 20_000)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    small, large = psi(ref, ref + 0.1), psi(ref, ref + 1.0)
    assert 0 < small < 0.1 < 0.2 < large


def test_psi_ignores_nan_and_handles_empty_bins() -> None:
    ref = np.array([0.0, 1.0, 2.0, 3.0, np.nan] * 50)
    assert np.isfinite(psi(ref, np.full(30, 10.0)))


def test_drift_table_flags_the_regime_change(market_panel: tuple[Dataset, pd.Timestamp]) -> None:
    data, regime_at = market_panel
    reference = data.X[(data.times < regime_at - pd.Timedelta(days=60)).to_numpy()]
    after = data.X[(data.times >= regime_at + pd.Timedelta(days=3)).to_numpy()]
    table = drift_table(reference, after)
    assert any_drift(table)
    flagged = set(table.loc[table["drifted"], "feature"])
    assert {"vol_24", "range_12"} <= flagged
    assert list(table.columns) == [
        "feature",
        "psi",
        "ks",
        "ks_pvalue",
        "wasserstein",
        "wasserstein_std",
        "drifted",
    ]


def test_drift_table_flags_nothing_within_one_regime(
    market_panel: tuple[Dataset, pd.Timestamp],
) -> None:
    data, regime_at = market_panel
    reference = data.X[(data.times < regime_at - pd.Timedelta(days=60)).to_numpy()]
    control = data.X[
        ((data.times >= regime_at - pd.Timedelta(days=55)) & (data.times < regime_at)).to_numpy()
    ]
    first_half = data.X.iloc[: len(data) * 2 // 5]
    second_half = data.X[
        ((data.times >= data.times.iloc[len(data) // 2]) & (data.times < regime_at)).to_numpy()
    ]
    assert not any_drift(drift_table(reference, control))
    assert not any_drift(drift_table(first_half, second_half))


def test_drift_table_tells_the_hold_outs_last_calm_weeks_from_the_first_regime_week(
    market_panel: tuple[Dataset, pd.Timestamp],
) -> None:
    data, regime_at = market_panel
    config = TrainConfig()
    bars = generate_market().bars
    holdout_start = holdout_start_time(bars, config.holdout_bars, window=STRATEGY.window)
    reference = data.X[(data.label_end_times < holdout_start - config.embargo).to_numpy()]
    calm = data.X[((data.times >= holdout_start) & (data.times < regime_at)).to_numpy()]
    first_week = data.X[
        ((data.times >= regime_at) & (data.times < regime_at + pd.Timedelta(days=7))).to_numpy()
    ]
    assert not any_drift(drift_table(reference, calm))
    assert any_drift(drift_table(reference, first_week))
