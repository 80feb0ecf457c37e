"""What a retraining's MLflow run holds, logged into the active run.

Parameters, per-fold and out-of-fold metrics, the folds and the OOF predictions; every
configuration of a sweep and which one was kept; the leakage canary's report; the backtest's
equity curve and plots; feature importance, the training features (the drift flow's reference),
data provenance (store digest, symbols, validation result), the git commit and the locked
requirements; and the look-ahead check's verdict. `flows/train_flow.py` opens the run, registers
the model and moves aliases; these functions fill the run and start nothing.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.utils.time import get_current_time_millis

from data_contracts.store import BarStore
from flows import tracking
from flows.plots import equity_figure, fold_sharpe_figure, importance_figure
from flows.settings import TateSettings
from models.leakage import LeakCanaryReport
from models.training import TrainingOutcome


def log_cross_validation(
    params: Mapping[str, Any],
    fold_metrics: Sequence[Mapping[str, float]],
    metrics: Mapping[str, float],
    folds: Sequence[Mapping[str, str]],
    oof: pd.DataFrame,
    workdir: Path,
) -> None:
    """Parameters, per-fold metrics (step = fold), OOF metrics, the folds and the OOF predictions.

    With the predictions and the folds' booster hashes in the run, the OOF scores can be
    recomputed from the bars (or compared with another run's) without retraining.
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_cross_validation needs an active MLflow run")
    now = get_current_time_millis()
    scores = [
        Metric(f"fold_{k}", float(v), now, fold)
        for fold, values in enumerate(fold_metrics)
        for k, v in values.items()
    ] + [Metric(f"oof_{k}", float(v), now, 0) for k, v in metrics.items()]
    # one batch instead of a store round trip per fold
    MlflowClient().log_batch(
        run.info.run_id, metrics=scores, params=[Param(k, str(v)) for k, v in params.items()]
    )
    mlflow.log_dict({"folds": [dict(f) for f in folds]}, "cv/folds.json")
    predictions = workdir / "oof_predictions.parquet"
    oof.to_parquet(predictions, index=False)
    mlflow.log_artifact(str(predictions), artifact_path="cv")


def _log_sweep(configurations: Sequence[Mapping[str, Any]]) -> None:
    """Every configuration's OOF scores (step = its index in the sweep) and which one was kept."""
    if len(configurations) < 2:
        return
    for entry in configurations:
        mlflow.log_metrics(
            {f"sweep_oof_{k}": float(entry[k]) for k in ("sharpe_net", "auc", "deflated_sharpe")},
            step=int(entry["index"]),
        )
    chosen = next(entry for entry in configurations if entry["chosen"])
    mlflow.log_dict({"configurations": list(configurations)}, "sweep/configurations.json")
    mlflow.set_tags(
        {
            "tate.sweep_size": str(len(configurations)),
            "tate.sweep_chosen": str(chosen["index"]),
            "tate.sweep_chosen_overrides": json.dumps(chosen["overrides"], sort_keys=True),
        }
    )


def _log_leak_canary(report: LeakCanaryReport) -> None:
    mlflow.log_metrics(report.metrics())
    mlflow.set_tag("tate.leak_canary", "detected" if report.detected else "missed")
    mlflow.log_dict(
        {
            **dataclasses.asdict(report),
            "auc_jump": report.auc_jump,
            "sharpe_jump": report.sharpe_jump,
        },
        "leak_canary/report.json",
    )


def log_run_contents(
    settings: TateSettings,
    outcome: TrainingOutcome,
    bars: dict[str, pd.DataFrame],
    workdir: Path,
    validation: dict[str, Any] | None,
) -> None:
    """Parameters, per-fold and overall metrics, the sweep and the leakage canary, plots, data
    provenance and locked requirements."""
    folds = [
        {**bounds, "booster_sha256": sha}
        for bounds, sha in zip(outcome.fold_bounds, outcome.fold_boosters_sha256, strict=True)
    ]
    log_cross_validation(
        outcome.params, outcome.fold_metrics, outcome.metrics, folds, outcome.oof, workdir
    )
    _log_sweep(outcome.configurations)
    if outcome.leak_canary is not None:
        _log_leak_canary(outcome.leak_canary)

    digest = BarStore(settings.data_dir).digest(settings.timeframe, sorted(bars))
    with warnings.catch_warnings():
        # A local path matches MLflow's local-artifact source twice; the warning says only that.
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(
            outcome.train_features.assign(label=outcome.train_labels),
            source=str(settings.data_dir / "bars" / f"timeframe={settings.timeframe}"),
            name=f"bars-{settings.timeframe}-{'-'.join(sorted(bars))}",
            digest=digest[:32],
            targets="label",
        )
    mlflow.log_input(dataset, context="training")
    tags = {
        "tate.store_digest": digest,
        "tate.symbols": ",".join(sorted(bars)),
        "tate.holdout_start": outcome.holdout_start.isoformat(),
        "tate.validation_result_id": validation["result_id"] if validation else "not-validated",
        "tate.validation_summary": validation["summary"] if validation else "",
        "tate.quarantined_rows": str(validation.get("quarantined_rows", 0)) if validation else "0",
        "tate.git_dirty": str(tracking.git_dirty()),
    }
    commit = tracking.git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    mlflow.set_tags(tags)

    curve = workdir / "equity_curve.csv"
    outcome.equity.to_csv(curve, index=False)
    mlflow.log_artifact(str(curve), artifact_path="backtest")
    mlflow.log_figure(equity_figure(outcome.equity), "backtest/equity_curve.png")
    mlflow.log_figure(fold_sharpe_figure(outcome.fold_metrics), "backtest/fold_sharpe.png")
    importance = pd.Series(
        outcome.booster.feature_importance(importance_type="gain"),
        index=outcome.booster.feature_name(),
        name="gain",
    )
    importance.to_csv(workdir / "feature_importance.csv")
    mlflow.log_artifact(str(workdir / "feature_importance.csv"), artifact_path="model_insight")
    mlflow.log_figure(importance_figure(importance), "model_insight/feature_importance.png")
    mlflow.log_dict(tracking.package_versions(), "environment/package_versions.json")
    reference = workdir / "features.parquet"
    outcome.train_features.to_parquet(reference, index=False)
    mlflow.log_artifact(str(reference), artifact_path="reference")
    lock = tracking.locked_requirements()
    if lock is not None:
        mlflow.log_artifact(str(lock), artifact_path="environment")


def log_lookahead(record: Mapping[str, Any]) -> None:
    """The look-ahead step's verdict (tags) and report (artifacts) in the active run."""
    mlflow.set_tags(record["tags"])
    for path in record["files"]:
        mlflow.log_artifact(path, artifact_path="lookahead")
