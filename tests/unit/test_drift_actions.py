"""The statistics that halt a model: exact against scipy, silent on resampled reference data, loud
on a planted shift, and concept drift catches a model whose edge disappears half-way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, wasserstein_distance

from models.concept_drift import (
    concept_drift,
    confidence_from_probability,
    prediction_drift,
    probability_from_decision,
    realised_forward_returns,
    trade_outcomes,
)
from models.drift import column_statistics, drift_table, key_features, psi, psi_halt_reasons

PSI_HALT = 0.25  # TateSettings.psi_threshold: the halting bar on a key feature


def sample_columns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Continuous, heavy-tailed, tied (rounded) and discrete columns: the shapes features take."""
    return np.column_stack(
        [
            rng.normal(size=n),
            rng.standard_t(3, size=n),
            np.round(rng.normal(size=n), 1),
            rng.integers(0, 4, size=n).astype(float),
            rng.exponential(size=n),
        ]
    )


@pytest.mark.parametrize(("n", "m"), [(3000, 1700), (500, 4000), (40, 40)])
def test_column_statistics_equal_scipy_and_the_plain_psi_to_1e9(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    ref, cur = sample_columns(rng, n), sample_columns(rng, m) * 1.1 + 0.05
    stats = column_statistics(ref, cur)
    for j in range(ref.shape[1]):
        expected = ks_2samp(ref[:, j], cur[:, j], method="asymp")
        assert stats.ks[j] == pytest.approx(expected.statistic, abs=1e-9), j
        assert stats.wasserstein[j] == pytest.approx(
            wasserstein_distance(ref[:, j], cur[:, j]), abs=1e-9
        ), j
        assert stats.psi[j] == pytest.approx(psi(ref[:, j], cur[:, j]), abs=1e-9), j


tied = st.lists(
    st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 1)), min_size=1, max_size=60
)


@settings(max_examples=80, deadline=None)
@given(tied, tied)
def test_column_statistics_equal_scipy_on_small_tied_samples(
    a: list[float], b: list[float]
) -> None:
    stats = column_statistics(np.array(a)[:, None], np.array(b)[:, None])
    assert stats.ks[0] == pytest.approx(ks_2samp(a, b).statistic, abs=1e-9)
    assert stats.wasserstein[0] == pytest.approx(wasserstein_distance(a, b), abs=1e-9)
    assert stats.psi[0] == pytest.approx(psi(np.array(a), np.array(b)), abs=1e-9)


def test_a_column_with_nan_is_done_on_its_finite_values_alone() -> None:
    rng = np.random.default_rng(3)
    ref, cur = sample_columns(rng, 800), sample_columns(rng, 600)
    ref[::7, 1], cur[::5, 1] = np.nan, np.inf
    stats = column_statistics(ref, cur)
    a, b = ref[:, 1][np.isfinite(ref[:, 1])], cur[:, 1][np.isfinite(cur[:, 1])]
    assert stats.ks[1] == pytest.approx(ks_2samp(a, b).statistic, abs=1e-9)
    assert stats.wasserstein[1] == pytest.approx(wasserstein_distance(a, b), abs=1e-9)
    assert (stats.n_reference[1], stats.n_current[1]) == (a.size, b.size)
    assert stats.ks[0] == pytest.approx(ks_2samp(ref[:, 0], cur[:, 0]).statistic, abs=1e-9)


# Resampled reference data: the current window is a fresh draw from the reference's own
# distribution, at sizes the drift flow sees (a training set against a month of hourly
# decisions). Measured: 0 halts and 0 flags in 60 seeds × 5 features at both sizes, the largest
# PSI 0.049 (m = 500) and 0.022 (m = 2000), against the halting bar of 0.25; the expected PSI of
# a same-distribution draw is about (bins - 1) × (1/n + 1/m). The bound asserted leaves room for noise without letting a real false-alarm rate pass.
FALSE_ALARM_SEEDS = 60
FALSE_ALARM_BOUND = 0.02


@pytest.mark.parametrize("current_rows", [500, 2000])
def test_resampled_reference_data_almost_never_halts(current_rows: int) -> None:
    halts = 0
    flagged = 0
    names = [f"f{j}" for j in range(5)]
    for seed in range(FALSE_ALARM_SEEDS):
        rng = np.random.default_rng(1000 + seed)
        population = sample_columns(rng, 40_000)
        ref = population[rng.choice(population.shape[0], 8000, replace=False)]
        cur = population[rng.choice(population.shape[0], current_rows, replace=True)]
        table = drift_table(pd.DataFrame(ref, columns=names), pd.DataFrame(cur, columns=names))
        halts += bool(psi_halt_reasons(table, names, PSI_HALT))
        flagged += bool(table["drifted"].any())
    assert halts / FALSE_ALARM_SEEDS <= FALSE_ALARM_BOUND
    assert flagged / FALSE_ALARM_SEEDS <= FALSE_ALARM_BOUND


def test_a_planted_shift_on_a_key_feature_halts_and_names_it() -> None:
    rng = np.random.default_rng(11)
    names = ["momentum", "volatility", "hour"]
    ref = pd.DataFrame(rng.normal(size=(5000, 3)), columns=names)
    cur = pd.DataFrame(rng.normal(size=(600, 3)), columns=names)
    cur["volatility"] += 1.0  # one standard deviation
    table = drift_table(ref, cur)
    keys = key_features({"momentum": 10.0, "volatility": 30.0, "hour": 0.0}, top=2)
    assert keys == ["volatility", "momentum"]
    reasons = psi_halt_reasons(table, keys, PSI_HALT)
    assert len(reasons) == 1 and reasons[0].endswith("on key feature volatility")
    # the same shift on a feature the model ignores does not halt
    assert psi_halt_reasons(table, ["momentum"], PSI_HALT) == []


def edge_market(rng: np.random.Generator, n: int, edge: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and forward returns of a model whose side is right with ``0.5 + edge``."""
    probability = np.clip(0.5 + rng.normal(0.0, 0.06, size=n), 0.01, 0.99)
    side = np.sign(probability - 0.5)
    right = rng.random(n) < 0.5 + edge
    size = rng.exponential(0.002, size=n)
    return probability, np.where(right, side, -side) * size


def test_concept_drift_catches_an_edge_removed_half_way_and_not_before() -> None:
    """Twelve thousand decisions (a quarter of hourly bars on four symbols, labels of six bars):
    the model's side is right 58 % of the time in the first half, 50 % in the second."""
    rng = np.random.default_rng(5)
    oof = trade_outcomes(*edge_market(rng, 20_000, edge=0.08), threshold=0.02)
    first_p, first_r = edge_market(rng, 6000, edge=0.08)
    second_p, second_r = edge_market(rng, 6000, edge=0.0)
    before = concept_drift(oof, trade_outcomes(first_p, first_r, 0.02), block=6)
    after = concept_drift(oof, trade_outcomes(second_p, second_r, 0.02), block=6)

    assert before.enough and not before.drifted, before.reasons()
    assert after.drifted, after.reasons()
    worse = {check.name for check in after.checks if check.worse}
    assert "hit_rate" in worse
    assert any(r.startswith("FAIL: hit_rate") and "below its band" in r for r in after.reasons())


def test_concept_drift_false_alarms_stay_rare_over_seeds() -> None:
    """Same edge before and after: the band (z = 3 on each of three figures) rarely breaks.
    Measured: 0 alarms in 60 seeds."""
    alarms = 0
    for seed in range(FALSE_ALARM_SEEDS):
        rng = np.random.default_rng(seed)
        oof = trade_outcomes(*edge_market(rng, 20_000, edge=0.05), threshold=0.02)
        now = trade_outcomes(*edge_market(rng, 800, edge=0.05), threshold=0.02)
        alarms += concept_drift(oof, now, block=1).drifted
    assert alarms / FALSE_ALARM_SEEDS <= FALSE_ALARM_BOUND


def test_too_few_known_outcomes_are_not_judged() -> None:
    rng = np.random.default_rng(2)
    oof = trade_outcomes(*edge_market(rng, 5000, edge=0.05), threshold=0.0)
    few = trade_outcomes(*edge_market(rng, 60, edge=-0.3), threshold=0.0)
    verdict = concept_drift(oof, few, block=6, min_effective=20)
    assert not verdict.enough and not verdict.drifted
    assert verdict.reasons()[0].startswith("concept drift not judged")


def test_journaled_decisions_give_back_their_probability() -> None:
    p = np.array([0.7, 0.3, 0.52, 0.5])
    signal = np.array([1, -1, 0, 0])
    back = probability_from_decision(signal, confidence_from_probability(p))
    np.testing.assert_allclose(back[:2], p[:2], atol=1e-12)
    assert np.isnan(back[2:]).all()


def test_prediction_drift_sees_a_model_grown_overconfident() -> None:
    rng = np.random.default_rng(8)
    oof = confidence_from_probability(np.clip(0.5 + rng.normal(0, 0.05, 5000), 0, 1))
    same = confidence_from_probability(np.clip(0.5 + rng.normal(0, 0.05, 700), 0, 1))
    bold = confidence_from_probability(np.clip(0.5 + rng.normal(0, 0.2, 700), 0, 1))
    assert not prediction_drift(oof, same).drifted
    verdict = prediction_drift(oof, bold)
    assert verdict.drifted and verdict.psi >= 0.25 and verdict.n_current == 700


def test_realised_returns_follow_the_label_definition_and_wait_for_the_future() -> None:
    times = pd.date_range("2026-01-05", periods=10, freq="h", tz="UTC")
    close = np.exp(np.linspace(0.0, 0.09, 10))
    bars = {"EURUSD": pd.DataFrame({"time": times, "close": close})}
    got = realised_forward_returns(bars, times[[0, 7, 8]], np.array(["EURUSD"] * 3), horizon=2)
    np.testing.assert_allclose(got[:2], [0.02, 0.02], atol=1e-12)
    assert np.isnan(got[2])  # its label ends after the last stored bar
    unknown = realised_forward_returns(bars, times[:1], np.array(["GBPUSD"]), horizon=2)
    assert np.isnan(unknown).all()


def test_retraining_starts_only_when_configured_and_an_api_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.drift_actions import maybe_start_retraining
    from flows.settings import TateSettings

    monkeypatch.setenv("TATE_HOME", str(tmp_path))
    launched: list[str] = []

    def launch() -> str:
        launched.append("retrain/on-demand")
        return "run-1"

    off = TateSettings()
    on = TateSettings(drift_retrain=True)
    assert maybe_start_retraining(off, reachable=lambda: True, launch=launch) is None
    assert maybe_start_retraining(on, reachable=lambda: False, launch=launch) is None
    assert launched == []
    assert maybe_start_retraining(on, reachable=lambda: True, launch=launch) == "run-1"
    assert launched == ["retrain/on-demand"]


def test_without_a_configured_prefect_api_nothing_is_reachable() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.drift_actions import prefect_api_reachable

    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert prefect_api_reachable() is False
