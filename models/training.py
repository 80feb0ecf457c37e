"""Training: purged walk-forward LightGBM with out-of-fold evaluation, and the final fit.

The strategy (``models.strategy.Strategy``) computes features and labels, fits and decides;
the panel it built carries it, so a fold shipped to another process fits with it too. The
steps are plain functions so a flow can run each as a task (folds in parallel) and a test
can run them in a loop: ``development_set`` → ``plan_folds`` → ``fit_fold`` per configuration
and fold → ``choose_configuration`` → ``fit_final`` (and the leakage canary's folds) →
``assemble_outcome``. ``run_training`` is that sequence, sequentially; nothing here touches
files, trackers or clocks. LightGBM runs deterministic (fixed seed, one thread,
``deterministic=True``) so the same bars and config give the same trees wherever they run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import backtest_signals
from models.cv import PurgedWalkForward
from models.dataset import Dataset
from models.development import DevelopmentSet, development_set
from models.development import holdout_start_time as holdout_start_time  # re-exported
from models.errors import NotEnoughBarsError
from models.folds import FoldPlan, FoldResult, WalkForwardResult, combine_folds, plan_folds
from models.gates import GateThresholds
from models.leakage import LeakCanaryReport, add_leaked_feature, leak_canary_report
from models.metrics import (
    PERIODS_PER_YEAR,
    classification_metrics,
    cost_share,
    deflated_sharpe_ratio,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)
from models.sizing import fractions_by_symbol
from models.strategy import Fitted, Strategy
from models.sweep import SweepSelection, select_configuration
from models.train_config import TrainConfig, normalize_sweep, sweep_configs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingOutcome:
    """Everything the train flow logs for one run.

    ``train_features``/``train_labels`` are the final fit's rows (the drift reference);
    ``fold_metrics`` and ``metrics`` are numbers only; ``oof`` has time, symbol, y, probability.
    ``configurations`` has one entry per configuration tried (its overrides, OOF ``auc``,
    ``sharpe_net``, ``deflated_sharpe`` and whether it was ``chosen``); with more than one,
    ``metrics`` carries ``pbo``. ``leak_canary`` is set when the config asked for the canary.
    ``strategy`` is the one that trained it: its file is what the model is logged as.
    """

    params: dict[str, Any]
    fold_metrics: list[dict[str, float]]
    fold_bounds: list[dict[str, str]]
    metrics: dict[str, float]
    equity: pd.DataFrame
    booster: Fitted
    holdout_start: datetime
    train_features: pd.DataFrame
    train_labels: np.ndarray
    oof: pd.DataFrame
    model_config: dict[str, Any]
    gate_thresholds: GateThresholds
    strategy: Strategy
    fold_boosters_sha256: list[str] = dataclasses.field(default_factory=list)
    configurations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    leak_canary: LeakCanaryReport | None = None

    @property
    def booster_sha256(self) -> str:
        """sha256 of the booster's text model: identifies the exact trees a version carries."""
        return hashlib.sha256(self.booster.model_to_string().encode()).hexdigest()


def _trading_metrics(
    ds: Dataset, proba: np.ndarray, threshold: float, periods: float, n_trials: int = 1
) -> dict[str, Any]:
    """Backtest metrics of the strategy's decisions; the deflated Sharpe uses the net per-time
    returns.

    Positions are sized from the model's confidence by the worker's own sizing code
    (``RiskBudget``: the default budget on each symbol's own volume grid, from its record in
    the dataset's cost model), under that cost model
    (spread on buys, slippage and commission on every fill, fills delayed by its latency).

    With one trial the DSR is the probabilistic Sharpe against zero; with more, the spread of
    the trials' Sharpes is taken as this Sharpe's standard error (skill-less trials differ by
    estimation noise), since only the chosen trial's returns are at hand.
    """
    signal, confidence = ds.strategy.decide(proba, threshold)
    # sized by the worker's sizing code, as a fraction of its risk budget
    symbols = ds.symbols
    specs = {str(name): ds.costs.spec(str(name)) for name in np.unique(symbols)}
    positions = fractions_by_symbol(symbols, signal, confidence, specs)
    result = backtest_signals(
        ds.times,
        ds.symbols,
        positions,
        ds.next_returns,
        ds.trade_cost,
        ds.buy_cost,
        latency_bars=ds.costs.latency_bars,
    )
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


def _periods(config: TrainConfig) -> float:
    return PERIODS_PER_YEAR[config.timeframe]


def _without_features(dataset: Dataset) -> Dataset:
    """The dataset minus its feature columns: what a backtest reads, without copying ``X``."""
    return dataclasses.replace(dataset, X=dataset.X.iloc[:, :0])


def splitter(config: TrainConfig) -> PurgedWalkForward:
    """The purged walk-forward splitter a config asks for."""
    return PurgedWalkForward(n_splits=config.n_splits, embargo=config.embargo)


def fit_fold(dataset: Dataset, fold: FoldPlan, config: TrainConfig) -> FoldResult:
    """Fit one booster on the fold's purged training rows; predict and score its test rows."""
    booster = dataset.strategy.fit(
        dataset.X.iloc[fold.train], dataset.y[fold.train], config.params, config.num_boost_round
    )
    # Booster.predict is typed as array, sparse matrix or list; a dense input gives a float array.
    proba = np.asarray(booster.predict(dataset.X.iloc[fold.test].to_numpy(np.float64)), np.float64)
    test = _without_features(dataset).subset(fold.test)
    trading = _trading_metrics(test, proba, config.threshold, _periods(config), config.n_trials)
    trading.pop("_equity")
    metrics = {
        "fold": float(fold.index),
        "n_train": float(fold.train.size),
        "n_test": float(fold.test.size),
        **classification_metrics(test.y, proba),
        **{k: float(v) for k, v in trading.items()},
    }
    gains = booster.feature_importance(importance_type="gain")
    return FoldResult(
        index=fold.index,
        test=fold.test,
        proba=proba,
        metrics=metrics,
        bounds=fold.bounds(),
        booster_text=booster.model_to_string(),
        importance={name: float(g) for name, g in zip(booster.feature_name(), gains, strict=True)},
    )


def walk_forward(
    dataset: Dataset, config: TrainConfig, folds: Sequence[FoldPlan] | None = None
) -> WalkForwardResult:
    """Every fold of ``config``'s splitter (or the given plans), fitted one after another."""
    plans = plan_folds(dataset, splitter(config)) if folds is None else folds
    return combine_folds(len(dataset), [fit_fold(dataset, fold, config) for fold in plans])


@dataclass(frozen=True)
class Evaluation:
    """One configuration's walk-forward, judged out of fold.

    ``tested`` are the row positions with an out-of-fold prediction; ``equity`` the cost-aware
    backtest of their signal; ``metrics`` numbers only.
    """

    config: TrainConfig
    walk_forward: WalkForwardResult
    tested: np.ndarray
    metrics: dict[str, float]
    equity: pd.DataFrame

    @property
    def net_returns(self) -> pd.Series:
        """Per-time out-of-fold net returns, recovered from the compounded equity curve."""
        equity = self.equity["equity_net"].to_numpy(np.float64)
        previous = np.concatenate([[1.0], equity[:-1]])
        return pd.Series(equity / previous - 1.0, index=pd.DatetimeIndex(self.equity["time"]))


def evaluate_walk_forward(
    dataset: Dataset, result: WalkForwardResult, config: TrainConfig
) -> Evaluation:
    """Backtest and score the out-of-fold signal of one walk-forward."""
    tested = np.flatnonzero(~np.isnan(result.oof_proba))
    oof_ds = _without_features(dataset).subset(tested)
    proba = result.oof_proba[tested]
    trading = _trading_metrics(oof_ds, proba, config.threshold, _periods(config), config.n_trials)
    equity = trading.pop("_equity")
    metrics = {
        **classification_metrics(oof_ds.y, proba),
        **{k: float(v) for k, v in trading.items()},
        "n_folds": float(len(result.folds)),
        "n_train_rows": float(len(dataset)),
    }
    return Evaluation(config, result, tested, metrics, equity)


def oof_predictions(dataset: Dataset, evaluation: Evaluation) -> pd.DataFrame:
    """The tested rows' ``time, symbol, y, probability``: what every OOF score is computed from."""
    tested = _without_features(dataset).subset(evaluation.tested)
    return pd.DataFrame(
        {
            "time": tested.times,
            "symbol": tested.symbols,
            "y": tested.y,
            "probability": evaluation.walk_forward.oof_proba[evaluation.tested],
        }
    )


@dataclass(frozen=True)
class Choice:
    """Every configuration's evaluation, and which one the sweep keeps."""

    evaluations: list[Evaluation]
    selection: SweepSelection
    overrides: list[dict[str, Any]]

    @property
    def chosen(self) -> Evaluation:
        return self.evaluations[self.selection.chosen]


def choose_configuration(
    dataset: Dataset,
    configs: Sequence[TrainConfig],
    fold_results: Sequence[Sequence[FoldResult]],
    sweep: Sequence[Mapping[str, Any]] | None = None,
) -> Choice:
    """Evaluate each configuration's folds; keep the best OOF net Sharpe; measure the PBO.

    Args:
        fold_results: per configuration (in ``configs`` order), its folds' results.
        sweep: the override sets the configs were made from (for the record).
    """
    evaluations = [
        evaluate_walk_forward(dataset, combine_folds(len(dataset), results), config)
        for config, results in zip(configs, fold_results, strict=True)
    ]
    selection = select_configuration(
        [e.metrics["sharpe_net"] for e in evaluations], [e.net_returns for e in evaluations]
    )
    overrides = normalize_sweep(sweep) if sweep else [{} for _ in configs]
    return Choice(evaluations, selection, overrides)


def fit_final(
    dataset: Dataset, params: Mapping[str, Any], until: datetime, *, num_boost_round: int = 150
) -> Fitted:
    """Fit on every row whose label ends strictly before ``until``."""
    cutoff = pd.Timestamp(until)
    rows = np.flatnonzero((dataset.label_end_times < cutoff).to_numpy())
    if rows.size == 0:
        raise NotEnoughBarsError(f"no training rows with labels ending before {cutoff.isoformat()}")
    return dataset.strategy.fit(dataset.X.iloc[rows], dataset.y[rows], params, num_boost_round)


def canary_report(
    dataset: Dataset, choice: Choice, canary_folds: Sequence[FoldResult]
) -> LeakCanaryReport:
    """Judge the leakage canary's folds (the chosen config on the leaked panel) against it."""
    leaked = evaluate_walk_forward(
        dataset, combine_folds(len(dataset), canary_folds), choice.chosen.config
    )
    return leak_canary_report(
        choice.chosen.metrics, leaked.metrics, leaked.walk_forward.importance()
    )


def _configurations(choice: Choice) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "overrides": overrides,
            "chosen": i == choice.selection.chosen,
            **{k: e.metrics[k] for k in ("auc", "sharpe_net", "deflated_sharpe")},
        }
        for i, (e, overrides) in enumerate(zip(choice.evaluations, choice.overrides, strict=True))
    ]


def assemble_outcome(
    dev: DevelopmentSet,
    choice: Choice,
    booster: Fitted,
    canary_folds: Sequence[FoldResult] | None = None,
) -> TrainingOutcome:
    """The outcome of the chosen configuration, with the sweep's record and the canary's report."""
    chosen, selection = choice.chosen, choice.selection
    metrics = {**chosen.metrics, "n_configurations": float(selection.n_configurations)}
    if selection.n_configurations > 1:
        metrics["pbo"] = selection.pbo
    canary = canary_report(dev.dataset, choice, canary_folds) if canary_folds else None
    config = chosen.config
    return TrainingOutcome(
        params=config.flat_params(),
        fold_metrics=chosen.walk_forward.fold_metrics,
        fold_bounds=chosen.walk_forward.fold_bounds,
        metrics=metrics,
        equity=chosen.equity,
        booster=booster,
        holdout_start=dev.holdout_start.to_pydatetime(),
        train_features=dev.dataset.X.copy(),
        train_labels=dev.dataset.y.copy(),
        oof=oof_predictions(dev.dataset, chosen),
        model_config={
            "threshold": config.threshold,
            "horizon": config.horizon,
            "timeframe": config.timeframe,
            "window": dev.dataset.strategy.window,
            "feature_names": [str(c) for c in dev.dataset.X.columns],
        },
        gate_thresholds=config.gate,
        strategy=dev.dataset.strategy,
        fold_boosters_sha256=[fold.booster_sha256 for fold in chosen.walk_forward.folds],
        configurations=_configurations(choice),
        leak_canary=canary,
    )


def run_training(
    strategy: Strategy,
    bars: Mapping[str, pd.DataFrame],
    config: TrainConfig,
    *,
    points: Mapping[str, float] | None = None,
    sweep: Sequence[Mapping[str, Any]] | None = None,
) -> TrainingOutcome:
    """Build the strategy's panel, walk forward every configuration, keep the best, fit the
    final model.

    Everything before ``holdout_start - embargo`` (by label end) is the development set: CV,
    the OOF backtest and the final fit use it; the hold-out is left for the worker's replay.
    ``sweep`` lists LightGBM overrides, one configuration each (none: ``config`` alone).
    """
    dev = development_set(strategy, bars, config, points=points)
    configs = sweep_configs(config, sweep)
    folds = plan_folds(dev.dataset, splitter(config))
    results = [[fit_fold(dev.dataset, fold, c) for fold in folds] for c in configs]
    choice = choose_configuration(dev.dataset, configs, results, sweep)
    chosen = choice.chosen.config
    booster = fit_final(
        dev.dataset,
        chosen.params,
        dev.cutoff.to_pydatetime(),
        num_boost_round=chosen.num_boost_round,
    )
    canary = None
    if config.leak_canary:
        leaked = add_leaked_feature(dev.dataset, seed=config.seed)
        canary = [fit_fold(leaked, fold, chosen) for fold in folds]
    outcome = assemble_outcome(dev, choice, booster, canary)
    logger.info(
        "trained: OOF AUC %.4f, net Sharpe %.2f",
        outcome.metrics["auc"],
        outcome.metrics["sharpe_net"],
    )
    return outcome
