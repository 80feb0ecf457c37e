"""Training: purged walk-forward LightGBM with out-of-fold evaluation, and the final fit.

``run_training`` is the single pure entry point the train flow calls: it returns everything
the flow logs (params, per-fold and overall metrics, equity curve, booster, drift reference)
and touches no files, trackers or clocks. LightGBM runs deterministic (fixed seed, few threads,
``deterministic=True``) so the same bars and config give the same model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from data_contracts.schema import TIMEFRAME_SECONDS
from models.backtest import backtest_signals
from models.costs import CostModel
from models.cv import PurgedWalkForward, utc_values
from models.dataset import Dataset, build_dataset
from models.features import FEATURE_NAMES, WINDOW
from models.gates import GateThresholds
from models.metrics import (
    PERIODS_PER_YEAR,
    classification_metrics,
    cost_share,
    deflated_sharpe_ratio,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)
from models.strategies.lgbm_momentum import signal_from_probability

logger = logging.getLogger(__name__)


def default_lgbm_params() -> dict[str, Any]:
    """Small, regularised trees: the signal is weak and the panel is tens of thousands of rows."""
    return {
        "objective": "binary",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 400,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "num_threads": 1,
        "seed": 7,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


@dataclass(frozen=True)
class TrainConfig:
    """What a training run needs besides the bars; every field is logged as a parameter.

    Attributes:
        horizon: label horizon in bars.
        n_splits, embargo_bars: walk-forward folds and the embargo between train and test.
        holdout_bars: the last bars kept out of CV and of the final fit (the worker replays
            them); the final fit's labels end before ``holdout_start - embargo``.
        threshold: probability distance from 0.5 needed to take a position.
        shuffle_labels: permute training labels (a control that must fail the gate).
        n_trials: configurations tried before this one (a sweep's size); the deflated Sharpe
            discounts the OOF Sharpe for them.
        params: LightGBM parameters; costs: the backtest's cost model; gate: promotion gate.
    """

    horizon: int = 6
    n_splits: int = 5
    embargo_bars: int = 24
    holdout_bars: int = 1500
    timeframe: str = "H1"
    num_boost_round: int = 150
    threshold: float = 0.02
    seed: int = 7
    shuffle_labels: bool = False
    n_trials: int = 1
    params: Mapping[str, Any] = field(default_factory=default_lgbm_params)
    costs: CostModel = field(default_factory=CostModel)
    gate: GateThresholds = field(default_factory=GateThresholds)

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise ValueError(f"n_trials counts this run too, so it must be >= 1: {self.n_trials}")

    @property
    def embargo(self) -> pd.Timedelta:
        return pd.Timedelta(seconds=self.embargo_bars * TIMEFRAME_SECONDS[self.timeframe])

    def flat_params(self) -> dict[str, Any]:
        """Flat parameter dict for the tracker (lgbm params prefixed with ``lgbm_``)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("params", "costs", "gate")}
        out.update({f"lgbm_{k}": v for k, v in self.params.items()})
        out.update({f"cost_{k}": v for k, v in asdict(self.costs).items()})
        out.update({f"gate_{k}": v for k, v in asdict(self.gate).items()})
        return out


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-fold probabilities (NaN for rows never tested), per-fold metrics, fold boosters.

    ``fold_metrics`` holds numbers only (ready for a tracker); ``fold_bounds`` the ISO times.
    """

    oof_proba: np.ndarray
    fold_metrics: list[dict[str, float]]
    fold_bounds: list[dict[str, str]]
    boosters: list[lgb.Booster]


@dataclass(frozen=True)
class TrainingOutcome:
    """Everything the train flow logs for one run.

    ``train_features``/``train_labels`` are the final fit's rows (the drift reference);
    ``fold_metrics`` and ``metrics`` are numbers only; ``oof`` has time, symbol, y, probability.
    """

    params: dict[str, Any]
    fold_metrics: list[dict[str, float]]
    fold_bounds: list[dict[str, str]]
    metrics: dict[str, float]
    equity: pd.DataFrame
    booster: lgb.Booster
    holdout_start: datetime
    train_features: pd.DataFrame
    train_labels: np.ndarray
    oof: pd.DataFrame
    model_config: dict[str, Any]
    gate_thresholds: GateThresholds

    @property
    def booster_sha256(self) -> str:
        """sha256 of the booster's text model: identifies the exact trees a version carries."""
        return hashlib.sha256(self.booster.model_to_string().encode()).hexdigest()


def _train(X: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any], rounds: int) -> lgb.Booster:
    data = lgb.Dataset(
        X.to_numpy(np.float64), label=y, feature_name=list(FEATURE_NAMES), free_raw_data=True
    )
    return lgb.train(dict(params), data, num_boost_round=rounds)


def _trading_metrics(
    ds: Dataset, proba: np.ndarray, threshold: float, periods: float, n_trials: int = 1
) -> dict[str, Any]:
    """Backtest metrics of the signal; the deflated Sharpe uses the net per-time returns.

    With one trial the DSR is the probabilistic Sharpe against zero; with more, the spread of
    the trials' Sharpes is taken as this Sharpe's standard error (skill-less trials differ by
    estimation noise), since only the chosen trial's returns are at hand.
    """
    signals = signal_from_probability(proba, threshold)
    result = backtest_signals(ds.times, ds.symbols, signals, ds.next_returns, ds.cost_per_unit)
    net, gross = result.net_returns.to_numpy(), result.gross_returns.to_numpy()
    return {
        "sharpe_net": sharpe_ratio(net, periods),
        "sharpe_gross": sharpe_ratio(gross, periods),
        "sortino": sortino_ratio(net, periods),
        "max_drawdown": max_drawdown(result.equity["equity_net"].to_numpy()),
        "turnover": result.turnover,
        "cost_share": cost_share(gross, net),
        "deflated_sharpe": deflated_sharpe_ratio(net, n_trials=n_trials),
        "_equity": result.equity,
    }


def walk_forward_fit(
    dataset: Dataset,
    params: Mapping[str, Any],
    cv: PurgedWalkForward,
    *,
    num_boost_round: int = 150,
    threshold: float = 0.02,
    periods_per_year: float = PERIODS_PER_YEAR["H1"],
    n_trials: int = 1,
) -> WalkForwardResult:
    """Fit one booster per fold on purged training rows; predict the fold's test rows."""
    oof = np.full(len(dataset), np.nan)
    fold_metrics: list[dict[str, float]] = []
    fold_bounds: list[dict[str, str]] = []
    boosters: list[lgb.Booster] = []
    for fold, (train, test) in zip(cv.folds(dataset), cv.split(dataset), strict=True):
        if train.size == 0 or test.size == 0:
            logger.warning(
                "fold %d skipped: %d train, %d test rows", fold.index, train.size, test.size
            )
            continue
        booster = _train(dataset.X.iloc[train], dataset.y[train], params, num_boost_round)
        oof[test] = booster.predict(dataset.X.iloc[test].to_numpy(np.float64))
        test_ds = dataset.subset(test)
        trading = _trading_metrics(test_ds, oof[test], threshold, periods_per_year, n_trials)
        trading.pop("_equity")
        fold_metrics.append(
            {
                "fold": float(fold.index),
                "n_train": float(train.size),
                "n_test": float(test.size),
                **classification_metrics(dataset.y[test], oof[test]),
                **trading,
            }
        )
        fold_bounds.append(
            {
                "fold": str(fold.index),
                "test_start": fold.test_start.isoformat(),
                "test_end": fold.test_end.isoformat(),
            }
        )
        boosters.append(booster)
    return WalkForwardResult(
        oof_proba=oof, fold_metrics=fold_metrics, fold_bounds=fold_bounds, boosters=boosters
    )


def fit_final(
    dataset: Dataset, params: Mapping[str, Any], until: datetime, *, num_boost_round: int = 150
) -> lgb.Booster:
    """Fit on every row whose label ends strictly before ``until``."""
    cutoff = pd.Timestamp(until)
    rows = np.flatnonzero((dataset.label_end_times < cutoff).to_numpy())
    if rows.size == 0:
        raise ValueError(f"no training rows with labels ending before {cutoff.isoformat()}")
    return _train(dataset.X.iloc[rows], dataset.y[rows], params, num_boost_round)


def holdout_start_time(bars: Mapping[str, pd.DataFrame], holdout_bars: int) -> pd.Timestamp:
    """Open time of the first of the last ``holdout_bars`` bar times across all symbols."""
    times = np.unique(np.concatenate([utc_values(frame["time"]) for frame in bars.values()]))
    if times.size <= holdout_bars + WINDOW:
        raise ValueError(f"{times.size} bar times leave nothing to train on before the hold-out")
    return pd.Timestamp(times[-holdout_bars]).tz_localize("UTC")


def run_training(
    bars: Mapping[str, pd.DataFrame],
    config: TrainConfig,
    *,
    points: Mapping[str, float] | None = None,
) -> TrainingOutcome:
    """Build the panel, walk forward, backtest the out-of-fold signal and fit the final model.

    Everything before ``holdout_start - embargo`` (by label end) is the development set: CV,
    the OOF backtest and the final fit use it; the hold-out is left for the worker's replay.
    """
    dataset = build_dataset(bars, horizon=config.horizon, points=points, costs=config.costs)
    holdout_start = holdout_start_time(bars, config.holdout_bars)
    cutoff = holdout_start - config.embargo
    dev = dataset.subset(np.flatnonzero((dataset.label_end_times < cutoff).to_numpy()))
    if config.shuffle_labels:
        rng = np.random.default_rng(config.seed)
        dev = dataclasses.replace(dev, y=rng.permutation(dev.y))
    periods = PERIODS_PER_YEAR[config.timeframe]
    params = dict(config.params)
    cv = PurgedWalkForward(n_splits=config.n_splits, embargo=config.embargo)
    wf = walk_forward_fit(
        dev,
        params,
        cv,
        num_boost_round=config.num_boost_round,
        threshold=config.threshold,
        periods_per_year=periods,
        n_trials=config.n_trials,
    )
    tested = np.flatnonzero(~np.isnan(wf.oof_proba))
    oof_ds = dev.subset(tested)
    trading = _trading_metrics(
        oof_ds, wf.oof_proba[tested], config.threshold, periods, config.n_trials
    )
    equity = trading.pop("_equity")
    metrics = {
        **classification_metrics(oof_ds.y, wf.oof_proba[tested]),
        **trading,
        "n_folds": float(len(wf.fold_metrics)),
        "n_train_rows": float(len(dev)),
    }
    booster = fit_final(dev, params, cutoff.to_pydatetime(), num_boost_round=config.num_boost_round)
    oof = pd.DataFrame(
        {
            "time": oof_ds.times,
            "symbol": oof_ds.symbols,
            "y": oof_ds.y,
            "probability": wf.oof_proba[tested],
        }
    )
    logger.info("trained: OOF AUC %.4f, net Sharpe %.2f", metrics["auc"], metrics["sharpe_net"])
    return TrainingOutcome(
        params=config.flat_params(),
        fold_metrics=wf.fold_metrics,
        fold_bounds=wf.fold_bounds,
        metrics=metrics,
        equity=equity,
        booster=booster,
        holdout_start=holdout_start.to_pydatetime(),
        train_features=dev.X.copy(),
        train_labels=dev.y.copy(),
        oof=oof,
        model_config={
            "threshold": config.threshold,
            "horizon": config.horizon,
            "timeframe": config.timeframe,
            "window": WINDOW,
            "feature_names": list(FEATURE_NAMES),
        },
        gate_thresholds=config.gate,
    )
