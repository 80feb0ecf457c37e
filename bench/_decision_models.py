"""The decision-path benchmark's market and models (``bench/decision_path.py``).

Hourly bars of a random walk with a daily cycle and momentum, and two 200-tree LightGBM
boosters on 30 features (the production 12 plus 18 more of the same families) trained on
them, logged as the strategy's models-from-code model and registered as ``champion`` and
``canary``. Imported, never run (``make bench`` runs ``bench/[!_]*.py``).
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from models.packaging import log_model_kwargs
from models.strategies.lgbm_momentum import FEATURE_NAMES, STRATEGY, WINDOW, build_features
from serving.mt5.types import RATES_DTYPE

NAMES_30: tuple[str, ...] = (
    *FEATURE_NAMES,
    "mom_2",
    "mom_4",
    "mom_8",
    "mom_16",
    "mom_32",
    "vol_6",
    "vol_12",
    "vol_48",
    "vol_ratio_12_48",
    "vol_ratio_6_24",
    "range_3",
    "range_24",
    "range_48",
    "ma_gap_6",
    "ma_gap_48",
    "volume_z_6",
    "volume_z_48",
    "spread_ratio_12",
)
TREES = 200
MODEL_NAME = "bench-decision-path"
SYMBOL = "EURUSD"
MAGIC = 7100


def generate_rates(n: int, seed: int) -> np.ndarray:
    """``n`` hourly bars in ``copy_rates_from_pos``' layout: a random walk with a daily
    volatility and activity cycle and momentum a model can pick up."""
    rng = np.random.default_rng(seed)
    hour = np.arange(n) % 24
    cycle = 0.6 + 0.8 * np.exp(-(((hour - 14) / 4.0) ** 2))
    shocks = rng.normal(0.0, 1.0, n)
    trend = np.convolve(shocks, np.full(12, 1 / 12), mode="full")[:n]
    returns = 1e-3 * cycle * (shocks + 0.3 * np.concatenate([[0.0], trend[:-1]]))
    close = np.round(1.1 * np.exp(np.cumsum(returns)), 5)
    rates = np.zeros(n, dtype=RATES_DTYPE)
    rates["time"] = 1_577_836_800 + 3600 * np.arange(n)
    rates["open"] = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 4e-4 * cycle, (2, n)))
    rates["high"] = np.round(np.maximum(rates["open"], close) + wick[0], 5)
    rates["low"] = np.round(np.minimum(rates["open"], close) - wick[1], 5)
    rates["close"] = close
    rates["tick_volume"] = np.maximum(1, rng.poisson(1_500 * cycle))
    rates["spread"] = rng.integers(8, 15, n) + (hour == 22) * 20
    return rates


def train_booster(rates: np.ndarray, seed: int) -> lgb.Booster:
    """A 200-tree booster on the 30 features, predicting the next bar's direction."""
    features = build_features(
        *(rates[c].astype(np.float64) for c in ("open", "high", "low", "close")),
        rates["tick_volume"].astype(np.float64),
        rates["spread"].astype(np.float64),
        names=NAMES_30,
    )
    close = rates["close"]
    label = (np.roll(close, -1) > close).astype(int)
    usable = ~np.isnan(features).any(axis=1)
    usable[-1] = False
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "verbose": -1,
        "seed": seed,
    }
    booster = lgb.train(params, lgb.Dataset(features[usable], label[usable]), TREES)
    assert booster.num_trees() == TREES and booster.num_feature() == len(NAMES_30)
    return booster


def register_models(tmp: Path, rates: np.ndarray) -> str:
    """Log two boosters as the strategy's models-from-code model, register them as
    ``champion`` and ``canary`` in a SQLite registry under ``tmp``; return its URI."""
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("bench", artifact_location=(tmp / "artifacts").as_uri())
    client = MlflowClient(uri)
    config = {"threshold": 0.02, "feature_names": list(NAMES_30), "window": WINDOW}
    for seed, alias in ((1, "champion"), (2, "canary")):
        booster = train_booster(rates, seed)
        kwargs = log_model_kwargs(STRATEGY, booster, config, tmp / f"staging-{alias}")
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.pyfunc.log_model(**kwargs)
        version = mlflow.register_model(info.model_uri, MODEL_NAME)
        client.set_registered_model_alias(MODEL_NAME, alias, version.version)
    return uri
