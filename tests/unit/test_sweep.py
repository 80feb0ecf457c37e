"""A sweep tries configurations honestly: every one counts as a trial, duplicates are refused, the
best out-of-fold Sharpe wins and the PBO is measured over the configurations' own returns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.metrics import probability_of_backtest_overfitting
from models.sweep import cscv_subsets, select_configuration
from models.train_config import TrainConfig, sweep_configs


def test_each_override_set_makes_one_config_and_every_config_counts_as_a_trial() -> None:
    base = TrainConfig()
    configs = sweep_configs(base, [{"num_leaves": 7}, {"num_boost_round": 40, "lambda_l2": 1.0}])
    assert [c.params["num_leaves"] for c in configs] == [7, base.params["num_leaves"]]
    assert [c.num_boost_round for c in configs] == [base.num_boost_round, 40]
    assert configs[1].params["lambda_l2"] == 1.0
    assert "num_boost_round" not in configs[1].params
    assert {c.n_trials for c in configs} == {2}
    assert base.params["num_leaves"] == 15, "the base config is left as it was"


def test_no_sweep_is_the_base_config_alone_and_earlier_trials_still_count() -> None:
    assert sweep_configs(TrainConfig(), None) == [TrainConfig()]
    earlier = TrainConfig(n_trials=4)
    assert [c.n_trials for c in sweep_configs(earlier, [{}, {"num_leaves": 7}])] == [5, 5]


def test_duplicate_and_non_scalar_overrides_are_refused() -> None:
    with pytest.raises(ValueError, match="same configuration"):
        sweep_configs(TrainConfig(), [{"num_leaves": 15}, {}])
    with pytest.raises(ValueError, match="number, string or bool"):
        sweep_configs(TrainConfig(), [{"num_leaves": [7, 15]}])


def test_parallel_folds_limit_lightgbm_to_one_thread_without_touching_the_rest() -> None:
    config = TrainConfig(params={**TrainConfig().params, "num_threads": 4})
    limited = config.with_threads(1)
    assert limited.params["num_threads"] == 1
    assert {k: v for k, v in limited.params.items() if k != "num_threads"} == {
        k: v for k, v in config.params.items() if k != "num_threads"
    }


def _returns(values: np.ndarray, start: str = "2023-01-02") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=values.size, freq="h", tz="UTC"))


def test_the_best_out_of_fold_sharpe_wins_and_nan_never_does() -> None:
    rng = np.random.default_rng(0)
    series = [_returns(rng.normal(0, 1e-3, 200)) for _ in range(3)]
    assert select_configuration([0.5, 2.0, 1.0], series).chosen == 1
    assert select_configuration([math.nan, -1.0, -2.0], series).chosen == 1
    assert select_configuration([1.0, 1.0, 0.0], series).chosen == 0


def test_pbo_is_measured_over_the_returns_every_configuration_traded() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(0, 1e-3, (320, 3))
    series = [_returns(matrix[:, i]) for i in range(3)]
    series[2] = pd.concat([_returns(np.array([9.0]), "2022-12-30"), series[2]])  # extra row
    selection = select_configuration([0.1, 0.2, 0.3], series)
    assert selection.n_subsets == 16
    assert selection.n_configurations == 3
    assert selection.pbo == pytest.approx(probability_of_backtest_overfitting(matrix, 16))


def test_a_configuration_with_real_skill_among_noise_has_a_low_pbo() -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1e-3, (2000, 5))
    noise[:, 3] += 3e-4  # one configuration earns in every block
    series = [_returns(noise[:, i]) for i in range(5)]
    assert select_configuration([0, 0, 0, 1, 0], series).pbo < 0.05


def test_one_configuration_or_too_few_rows_has_no_pbo() -> None:
    one = select_configuration([1.0], [_returns(np.zeros(100))])
    assert math.isnan(one.pbo) and one.n_subsets == 0
    short = select_configuration([1.0, 2.0], [_returns(np.ones(3)), _returns(np.ones(3))])
    assert math.isnan(short.pbo)
    assert [cscv_subsets(n) for n in (3, 4, 20, 31, 32, 10_000)] == [0, 2, 10, 14, 16, 16]
