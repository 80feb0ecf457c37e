"""Benchmark: the retraining flow's fold machinery against bare LightGBM on the same folds.

Data: 1,000,000 synthetic H1 bars (4 symbols × 250,000, ``data_contracts.synthetic``) turned
into a ``models.dataset.Dataset`` by ``build_dataset``, its 12 strategy features widened to 30
with lags of them (so the panel is ~1M rows × 30 features). Ten purged walk-forward folds
(expanding) are planned once and given to every side; LightGBM's parameters are the default
model's (one thread, deterministic) with ``--rounds`` boosting rounds (default 50, so the whole
script stays within a few minutes on two cores; the default model's 150 rounds would make the
fixed costs of orchestration and tracking a smaller share still). Flow and baseline run
``--repeats`` times, interleaved, and the fastest of each counts: on a shared two-core machine
a single pair can differ by seconds from load alone.

- flow (figure): a Prefect flow doing what the retrain flow does with folds: one ``fit-fold``
  task per fold submitted to the retrain flow's (sequential) fold runner, the
  ``choose-configuration`` task (out-of-fold backtest and metrics), then one MLflow run
  (SQLite under a temporary directory) logging params, per-fold metrics, OOF metrics, the folds
  and the OOF predictions through the retrain flow's ``log_cross_validation``, and a model (the
  last fold's booster, LightGBM flavor, pinned pip requirements).
- baseline: per fold ``lgb.Dataset`` + ``lgb.train`` + ``predict`` in a loop, same process.
- plain (``--plain``, for information): the flow's model calls (``fit_fold`` per fold, then
  ``choose_configuration``) without Prefect or MLflow; ``flow - plain`` is what orchestration
  and tracking cost, ``plain - baseline`` what the per-fold and OOF metrics cost.

Prefect's temporary API server and MLflow's SQLite store are started (a trivial flow run, an
experiment created) before anything is timed: their start is a once-per-process cost, not the
flow's overhead. The flow's OOF predictions must equal the baseline's, or the script fails.

Run: ``.venv/bin/python bench/training.py [--bars N] [--folds K] [--rounds R]``; writes the
``training`` entry of ``bench/results.json`` (figure = flow seconds, baseline_figure = bare
LightGBM seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightgbm as lgb
import mlflow
import mlflow.lightgbm  # imported up front: a library import is not the flow's cost
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bench._common import write_entry
from data_contracts.synthetic import generate_market
from flows.training_run import log_cross_validation
from flows.training_tasks import choose, fold_runner, run_folds
from models.dataset import Dataset, build_dataset
from models.folds import FoldPlan, plan_folds
from models.packaging import pip_requirements
from models.strategies.lgbm_momentum import STRATEGY
from models.train_config import TrainConfig
from models.training import (
    Choice,
    choose_configuration,
    fit_fold,
    oof_predictions,
    splitter,
)

SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD")
N_FEATURES = 30


def make_panel(n_bars: int) -> Dataset:
    """``n_bars`` bars over ``SYMBOLS`` as a panel of ``N_FEATURES`` features."""
    per_symbol = n_bars // len(SYMBOLS)
    n_days = int(per_symbol / 24 * 7 / 5) + 30
    market = generate_market(symbols=SYMBOLS, delisted=None, n_days=n_days)
    bars = {s: frame.iloc[:per_symbol].reset_index(drop=True) for s, frame in market.bars.items()}
    panel = build_dataset(STRATEGY, bars, horizon=TrainConfig().horizon, points=market.points)
    base = list(panel.X.columns)
    by_symbol = panel.X.groupby(panel.symbols, sort=False)
    extra: dict[str, pd.Series] = {}
    for lag in range(1, N_FEATURES):
        for name in base:
            if len(base) + len(extra) == N_FEATURES:
                break
            extra[f"{name}_lag{lag}"] = by_symbol[name].shift(lag)
    return dataclasses.replace(panel, X=pd.concat([panel.X, pd.DataFrame(extra)], axis=1))


def bare_lightgbm(dataset: Dataset, folds: list[FoldPlan], config: TrainConfig) -> np.ndarray:
    """Baseline: train and predict each fold with LightGBM alone."""
    oof = np.full(len(dataset), np.nan)
    names = [str(c) for c in dataset.X.columns]
    for fold in folds:
        data = lgb.Dataset(
            dataset.X.iloc[fold.train].to_numpy(np.float64),
            label=dataset.y[fold.train],
            feature_name=names,
            free_raw_data=True,
        )
        booster = lgb.train(dict(config.params), data, num_boost_round=config.num_boost_round)
        oof[fold.test] = booster.predict(dataset.X.iloc[fold.test].to_numpy(np.float64))
    return oof


def plain_calls(dataset: Dataset, folds: list[FoldPlan], config: TrainConfig) -> np.ndarray:
    """The flow's model calls without Prefect or MLflow."""
    results = [fit_fold(dataset, fold, config) for fold in folds]
    return choose_configuration(dataset, [config], [results]).chosen.walk_forward.oof_proba


@task(name="track-cross-validation", cache_policy=NO_CACHE)
def track(choice: Choice, dataset: Dataset, workdir: str) -> str:
    """One MLflow run as the retrain flow logs its cross-validation, plus a model."""
    chosen = choice.chosen
    wf = chosen.walk_forward
    folds = [{**f.bounds, "booster_sha256": f.booster_sha256} for f in wf.folds]
    oof = oof_predictions(dataset, chosen)
    with mlflow.start_run(run_name="bench-training") as run:
        log_cross_validation(
            chosen.config.flat_params(), wf.fold_metrics, chosen.metrics, folds, oof, Path(workdir)
        )
        mlflow.lightgbm.log_model(
            wf.folds[-1].booster(),
            name="model",
            pip_requirements=pip_requirements(("mlflow", "lightgbm", "numpy", "pandas")),
        )
    return run.info.run_id


def flow_seconds(
    dataset: Dataset, folds: list[FoldPlan], config: TrainConfig, workdir: Path
) -> tuple[float, np.ndarray]:
    """Wall time of the flow (after Prefect and MLflow are up) and its OOF predictions."""

    @flow(name="bench-training")
    def bench_training() -> np.ndarray:
        with fold_runner() as runner:
            results = run_folds(runner, dataset, folds, [config])
        choice = choose(dataset, [config], results, None)
        track(choice, dataset, str(workdir))
        return choice.chosen.walk_forward.oof_proba

    return timed(bench_training)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@flow(name="bench-warm-up")
def warm_up() -> int:
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="also time the model calls alone")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    dataset = make_panel(args.bars)
    config = dataclasses.replace(TrainConfig(), n_splits=args.folds, num_boost_round=args.rounds)
    folds = plan_folds(dataset, splitter(config))
    train_rows = sum(f.train.size for f in folds)
    print(
        f"panel: {len(dataset):,} rows x {dataset.X.shape[1]} features from {args.bars:,} bars; "
        f"{len(folds)} folds, {train_rows:,} training rows in all; {args.rounds} rounds, "
        f"{config.params['num_threads']} LightGBM thread (built in {time.perf_counter() - started:.0f} s)"
    )
    with tempfile.TemporaryDirectory(prefix="tate-bench-") as tmp:
        root = Path(tmp)  # benchmark scratch: tracking store and artifacts, thrown away
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
        mlflow.set_experiment(
            experiment_id=mlflow.create_experiment(
                "bench", artifact_location=(root / "artifacts").as_uri()
            )
        )
        warm = timed(warm_up)[0]
        (root / "work").mkdir()
        flow_s = bare_s = plain_s = math.inf
        for _ in range(args.repeats):
            seconds, bare_oof = timed(lambda: bare_lightgbm(dataset, folds, config))
            bare_s = min(bare_s, seconds)
            seconds, flow_oof = flow_seconds(dataset, folds, config, root / "work")
            flow_s = min(flow_s, seconds)
            np.testing.assert_array_equal(flow_oof, bare_oof)
            if args.plain:
                seconds, plain_oof = timed(lambda: plain_calls(dataset, folds, config))
                plain_s = min(plain_s, seconds)
                np.testing.assert_array_equal(plain_oof, bare_oof)

    ratio = flow_s / bare_s
    print(f"Prefect warm-up (temporary server start, not timed below): {warm:.1f} s")
    print(f"best of {args.repeats}, interleaved:")
    print(f"flow (tasks + OOF metrics + MLflow run): {flow_s:.2f} s")
    print(f"bare LightGBM on the same folds:         {bare_s:.2f} s")
    if args.plain:
        print(f"same model calls, no Prefect/MLflow:     {plain_s:.2f} s (informational)")
        print(
            f"  orchestration + tracking = flow - plain = {flow_s - plain_s:+.2f} s "
            f"({(flow_s - plain_s) / bare_s:+.1%} of bare); "
            f"metrics = plain - bare = {plain_s - bare_s:+.2f} s"
        )
    print(f"ratio flow / bare: {ratio:.3f} (target <= 1.10)")
    if not args.no_write:
        write_entry(
            {
                "name": "training",
                "figure": flow_s,
                "unit": "seconds",
                "baseline": "lightgbm",
                "baseline_figure": bare_s,
                "ratio": ratio,
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
