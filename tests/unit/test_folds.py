"""A fold is a self-contained unit of work: same inputs, same trees, wherever it runs; the folds
tile the tested rows without overlap; the features are whatever columns the panel has."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from models.dataset import Dataset, build_dataset
from models.folds import combine_folds, plan_folds
from models.leakage import LEAKED_FEATURE, add_leaked_feature, leak_canary_report
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, fit_fold, splitter
from tests.factories import make_bars_set

CONFIG = TrainConfig(
    n_splits=3,
    embargo_bars=6,
    num_boost_round=10,
    params={**TrainConfig().params, "min_data_in_leaf": 20},
)


@pytest.fixture(scope="module")
def panel() -> Dataset:
    bars, _ = make_bars_set(("EURUSD", "GBPUSD"), n=900)
    return build_dataset(STRATEGY, bars, horizon=CONFIG.horizon)


def test_a_fold_gives_the_same_trees_and_predictions_after_a_trip_through_pickle(
    panel: Dataset,
) -> None:
    fold = plan_folds(panel, splitter(CONFIG))[1]
    shipped_panel, shipped_fold = pickle.loads(pickle.dumps((panel, fold)))
    here, there = fit_fold(panel, fold, CONFIG), fit_fold(shipped_panel, shipped_fold, CONFIG)
    assert here.booster_text == there.booster_text
    np.testing.assert_array_equal(here.proba, there.proba)
    assert here.metrics == there.metrics
    np.testing.assert_array_equal(here.booster().predict(panel.X.iloc[fold.test]), here.proba)


def test_folds_put_predictions_back_on_their_own_rows_only(panel: Dataset) -> None:
    folds = plan_folds(panel, splitter(CONFIG))
    results = [fit_fold(panel, fold, CONFIG) for fold in folds]
    combined = combine_folds(len(panel), list(reversed(results)))
    assert [f.index for f in combined.folds] == [0, 1, 2]
    tested = np.concatenate([fold.test for fold in folds])
    assert np.isnan(np.delete(combined.oof_proba, tested)).all()
    np.testing.assert_array_equal(combined.oof_proba[folds[2].test], results[2].proba)
    with pytest.raises(ValueError, match="already tested"):
        combine_folds(len(panel), [results[0], results[0]])


def test_the_fold_trains_on_every_column_of_the_panel(panel: Dataset) -> None:
    leaked = add_leaked_feature(panel, seed=1)
    result = fit_fold(leaked, plan_folds(leaked, splitter(CONFIG))[0], CONFIG)
    assert list(result.importance) == [*panel.X.columns, LEAKED_FEATURE]
    assert max(result.importance, key=result.importance.__getitem__) == LEAKED_FEATURE


def test_the_planted_feature_is_the_forward_return_with_some_noise(panel: Dataset) -> None:
    leaked = add_leaked_feature(panel, seed=3)
    column = leaked.X[LEAKED_FEATURE].to_numpy()
    assert 0.8 < np.corrcoef(column, panel.fwd_returns)[0, 1] < 0.99
    assert list(panel.X.columns) == list(leaked.X.columns[:-1]), "the panel is not edited"
    np.testing.assert_array_equal(add_leaked_feature(panel, seed=3).X[LEAKED_FEATURE], column)


def test_the_canary_verdict_needs_both_the_jump_and_the_importance() -> None:
    clean = {"auc": 0.55, "sharpe_net": 1.0}
    jumped = {"auc": 0.9, "sharpe_net": 9.0}
    on_top = pd.Series({LEAKED_FEATURE: 80.0, "mom_1": 20.0})
    buried = pd.Series({LEAKED_FEATURE: 10.0, "mom_1": 90.0})
    assert leak_canary_report(clean, jumped, on_top).detected
    assert not leak_canary_report(clean, clean, on_top).detected
    missed = leak_canary_report(clean, jumped, buried)
    assert not missed.detected and missed.importance_rank == 2
    assert missed.importance_share == pytest.approx(0.1)
    with pytest.raises(KeyError, match=LEAKED_FEATURE):
        leak_canary_report(clean, jumped, pd.Series({"mom_1": 1.0}))
