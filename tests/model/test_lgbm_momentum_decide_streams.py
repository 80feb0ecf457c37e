"""``decide`` keeps features bar by bar, yet its answer never depends on how it is called.

A window that continues a stream (same bars but one, new bar not older) costs one bar's
update; anything else — a skipped bar, a revised bar, out-of-order bars, another symbol's
window — rebuilds from the window. Either way the decision is the one a fresh model makes.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.packaging import bundle_source
from models.strategies.lgbm_momentum import (
    FEATURE_NAMES,
    STRATEGY,
    WINDOW,
    Decision,
    LgbmMomentumModel,
    build_features,
)
from models.streaming import RowPredictor
from serving.mt5.types import RATES_DTYPE
from tests.factories import make_rates

HOUR = 3600


def columns(rates: np.ndarray) -> list[np.ndarray]:
    return [
        rates[name].astype(np.float64)
        for name in ("open", "high", "low", "close", "tick_volume", "spread")
    ]


def train_booster(names: tuple[str, ...], seed: int = 0) -> lgb.Booster:
    rates = make_rates(3_000, seed)
    features = build_features(*columns(rates), names=names)
    close = rates["close"]
    label = (np.roll(close, -1) > close).astype(int)
    usable = ~np.isnan(features).any(axis=1)
    usable[-1] = False
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed}
    return lgb.train(params, lgb.Dataset(features[usable], label[usable]), num_boost_round=40)


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    return train_booster(FEATURE_NAMES)


def new_model(booster: lgb.Booster, names: tuple[str, ...] = FEATURE_NAMES) -> LgbmMomentumModel:
    model = LgbmMomentumModel()
    model.use_booster(booster, {"threshold": 0.02, "feature_names": list(names)})
    return model


def assert_same_decision(got: Decision, want: Decision) -> None:
    assert got.signal == want.signal
    assert got.probability == pytest.approx(want.probability, rel=1e-12)
    np.testing.assert_allclose(got.features, want.features, rtol=1e-11, atol=1e-12)


def test_consecutive_windows_push_one_bar_each_and_rebuild_once(booster: lgb.Booster) -> None:
    rates = make_rates(400, 1)
    model = new_model(booster)
    batch = build_features(*columns(rates))
    for end in range(WINDOW, len(rates) + 1):
        decision = model.decide(rates[end - WINDOW : end].copy())
        assert_same_decision(decision, new_model(booster).decide(rates[end - WINDOW : end]))
        np.testing.assert_allclose(decision.features, batch[end - 1], rtol=1e-11, atol=1e-12)
    assert model.rebuilds == 1


def test_a_skipped_bar_rebuilds_from_the_window(booster: lgb.Booster) -> None:
    rates = make_rates(200, 2)
    model = new_model(booster)
    for end in range(WINDOW, 100):
        model.decide(rates[end - WINDOW : end])
    window = rates[101 - WINDOW : 101]  # bar 99 never seen
    decision = model.decide(window)
    assert model.rebuilds == 2
    assert_same_decision(decision, new_model(booster).decide(window))


def test_out_of_order_bars_are_sorted_and_rebuilt(booster: lgb.Booster) -> None:
    rates = make_rates(200, 3)
    model = new_model(booster)
    for end in range(WINDOW, 120):
        model.decide(rates[end - WINDOW : end])
    ordered = rates[121 - WINDOW : 121]
    shuffled = ordered[np.random.default_rng(0).permutation(WINDOW)]
    decision = model.decide(shuffled)
    assert model.rebuilds == 2
    assert_same_decision(decision, new_model(booster).decide(ordered))


def test_a_new_bar_older_than_the_last_one_rebuilds(booster: lgb.Booster) -> None:
    rates = make_rates(200, 4)
    model = new_model(booster)
    for end in range(WINDOW, 120):
        model.decide(rates[end - WINDOW : end])
    late = rates[120 - WINDOW + 1 : 121].copy()  # the overlap matches; the new bar is dated early
    late["time"][-1] = late["time"][0] - HOUR
    decision = model.decide(late)
    assert model.rebuilds == 2
    assert_same_decision(decision, new_model(booster).decide(np.sort(late, order="time")))


def test_a_revised_bar_inside_the_window_rebuilds(booster: lgb.Booster) -> None:
    rates = make_rates(200, 5)
    model = new_model(booster)
    for end in range(WINDOW, 150):
        model.decide(rates[end - WINDOW : end])
    revised = rates[151 - WINDOW : 151].copy()
    revised["close"][10] *= 1.01  # the broker corrected an old bar
    decision = model.decide(revised)
    assert model.rebuilds == 2
    np.testing.assert_allclose(
        decision.features, build_features(*columns(revised))[-1], rtol=1e-11, atol=1e-12
    )


def test_interleaved_symbols_each_continue_their_own_stream(booster: lgb.Booster) -> None:
    eurusd, usdjpy = make_rates(300, 6), make_rates(300, 7, price=115.0)
    shared, alone = new_model(booster), {"EURUSD": new_model(booster), "USDJPY": new_model(booster)}
    for end in range(WINDOW, 300):
        for symbol, rates in (("EURUSD", eurusd), ("USDJPY", usdjpy)):
            window = rates[end - WINDOW : end]
            assert_same_decision(shared.decide(window), alone[symbol].decide(window))
    assert shared.rebuilds == 2


def test_the_same_window_twice_gives_the_same_decision_without_a_rebuild(
    booster: lgb.Booster,
) -> None:
    rates = make_rates(100, 8)
    model = new_model(booster)
    for end in range(WINDOW, 90):
        model.decide(rates[end - WINDOW : end])
    first = model.decide(rates[90 - WINDOW : 90])
    again = model.decide(rates[90 - WINDOW : 90])
    assert model.rebuilds == 1
    assert again.probability == first.probability
    np.testing.assert_array_equal(again.features, first.features)


def test_decisions_do_not_share_their_feature_arrays(booster: lgb.Booster) -> None:
    rates = make_rates(100, 9)
    model = new_model(booster)
    first = model.decide(rates[:WINDOW])
    kept = first.features.copy()
    model.decide(rates[1 : WINDOW + 1])
    np.testing.assert_array_equal(first.features, kept)


def test_the_single_row_path_agrees_with_booster_predict(booster: lgb.Booster) -> None:
    predictor = RowPredictor(booster, len(FEATURE_NAMES))
    assert predictor.fast  # lightgbm 4.x ships the single-row C API
    rows = np.random.default_rng(1).normal(0.0, 2.0, (200, len(FEATURE_NAMES)))
    rows[::7, 3] = np.nan
    expected = booster.predict(rows)
    got = [predictor.predict(row.tolist()) for row in rows]
    assert got == expected.tolist()


def test_without_the_fast_path_booster_predict_gives_the_same_numbers(
    booster: lgb.Booster,
) -> None:
    predictor = RowPredictor(booster, len(FEATURE_NAMES))
    rows = np.random.default_rng(2).normal(0.0, 2.0, (20, len(FEATURE_NAMES)))
    fast = [predictor.predict(row.tolist()) for row in rows]
    predictor._close_fast_path()
    assert not predictor.fast
    assert [predictor.predict(row.tolist()) for row in rows] == fast


def test_a_model_of_another_named_feature_set_decides_like_it_predicts() -> None:
    names = (*FEATURE_NAMES, "mom_2", "vol_6", "range_3", "ma_gap_6", "volume_z_48")
    model = new_model(train_booster(names, seed=3), names)
    rates = make_rates(200, 11)
    assert model.window == WINDOW and model.feature_names == names
    frame = pd.DataFrame({name: rates[name] for name in RATES_DTYPE.names})
    predicted = model.predict(None, frame)
    for end in range(WINDOW, len(rates) + 1, 9):
        decision = model.decide(rates[end - WINDOW : end])
        assert decision.features.shape == (len(names),)
        assert decision.probability == pytest.approx(
            predicted["probability"].iloc[end - 1], rel=1e-12
        )


def test_a_booster_trained_on_other_features_is_refused(booster: lgb.Booster) -> None:
    with pytest.raises(ValueError, match="12 features, config names 13"):
        new_model(booster, (*FEATURE_NAMES, "mom_2"))
    with pytest.raises(ValueError, match="unknown feature"):
        new_model(booster, (*FEATURE_NAMES[:-1], "leak"))


def load_fresh(path: Path) -> ModuleType:
    """Import a file under a new module name, as MLflow loads a models-from-code file."""
    name = f"code_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def a_worker_s_windows(eurusd: np.ndarray, usdjpy: np.ndarray) -> Iterator[np.ndarray]:
    """Windows as a worker meets them: consecutive bars of two symbols interleaved, then a
    skipped bar, the same window twice, a revised old bar, out-of-order rows, a late bar."""
    for end in range(WINDOW, 120):
        yield eurusd[end - WINDOW : end]
        yield usdjpy[end - WINDOW : end]
    yield eurusd[122 - WINDOW : 122]  # bars 120 and 121 never seen
    yield eurusd[122 - WINDOW : 122]
    revised = eurusd[123 - WINDOW : 123].copy()
    revised["close"][5] *= 1.002
    yield revised
    yield eurusd[124 - WINDOW : 124][np.random.default_rng(1).permutation(WINDOW)]
    late = eurusd[125 - WINDOW : 125].copy()
    late["time"][-1] = late["time"][0] - HOUR
    yield late
    for end in range(125, 160):
        yield eurusd[end - WINDOW : end]


def test_the_bundled_model_decides_exactly_like_the_repo_model(
    booster: lgb.Booster, tmp_path: Path
) -> None:
    path = tmp_path / "lgbm_momentum.py"
    path.write_text(bundle_source(STRATEGY))
    bundled = load_fresh(path)
    assert bundled.LgbmMomentumModel is not LgbmMomentumModel
    theirs: Any = bundled.LgbmMomentumModel()
    theirs.use_booster(booster, {"threshold": 0.02, "feature_names": list(FEATURE_NAMES)})
    ours = new_model(booster)
    eurusd, usdjpy = make_rates(200, 12), make_rates(200, 13, price=115.0)
    for i, window in enumerate(a_worker_s_windows(eurusd, usdjpy)):
        got, want = theirs.decide(window), ours.decide(window)
        assert (got.signal, got.probability) == (want.signal, want.probability), i
        np.testing.assert_array_equal(got.features, want.features, err_msg=f"window {i}")
    assert theirs.rebuilds == ours.rebuilds == 6
