"""Retraining: features → purged walk-forward CV → backtest → one MLflow run → a registered version.

The first version becomes `champion`; a later one becomes `canary` only when it passes the promotion
gate against the champion. Every MLflow write lives in this module or `flows/tracking.py`.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from prefect import flow, get_run_logger, task

from data_contracts.quarantine import apply_quarantine, quarantine_from_frame
from data_contracts.store import BarStore
from flows import tracking
from flows.data_flows import ValidationFailedError, validate, validation_of_store
from flows.plots import equity_figure, fold_sharpe_figure, importance_figure
from flows.settings import TateSettings
from flows.times import utc_time
from models.gates import GateDecision, decide_promotion
from models.packaging import log_model_kwargs
from models.training import TrainConfig, TrainingOutcome, run_training


@task
def load_training_bars(
    settings: TateSettings, symbols: list[str] | None, start: str | None, end: str | None
) -> dict[str, pd.DataFrame]:
    store = BarStore(settings.data_dir)
    names = symbols or store.symbols(settings.timeframe)
    lo = utc_time(start, "start") if start else None
    hi = utc_time(end, "end") if end else None
    return {name: store.read_bars(name, settings.timeframe, lo, hi) for name in names}


@task
def drop_quarantined(
    bars: dict[str, pd.DataFrame], quarantine_file: str
) -> tuple[dict[str, pd.DataFrame], int]:
    """The bars minus the rows the validation quarantined; the raw store stays as it is."""
    entries = quarantine_from_frame(pd.read_csv(quarantine_file))
    kept = {name: apply_quarantine(frame, name, entries) for name, frame in bars.items()}
    return kept, sum(len(bars[name]) - len(kept[name]) for name in bars)


def judged_store(settings: TateSettings, symbols: list[str]) -> dict[str, Any]:
    """The validation verdict on the bars the store holds now, validating first when there is none.

    Raises:
        ValidationFailedError: the verdict is blocking (schema, survivorship, too much quarantined).
    """
    verdict = validation_of_store(settings, symbols)
    if verdict is None:
        validate(symbols=symbols)  # a subflow: raises when blocking
        verdict = validation_of_store(settings, symbols)
    if verdict is None or verdict.get("blocking"):
        summary = verdict.get("summary") if verdict else "none written"
        raise ValidationFailedError(f"the store's data is blocked by validation; see {summary}")
    return verdict


@task
def fit(bars: dict[str, pd.DataFrame], config: TrainConfig) -> TrainingOutcome:
    return run_training(bars, config)


def _log_run_contents(
    settings: TateSettings,
    outcome: TrainingOutcome,
    bars: dict[str, pd.DataFrame],
    workdir: Path,
    validation: dict[str, Any] | None,
) -> None:
    """Parameters, per-fold and overall metrics, plots, data provenance and locked requirements."""
    mlflow.log_params(outcome.params)
    for fold, metrics in enumerate(outcome.fold_metrics):
        mlflow.log_metrics({f"fold_{k}": float(v) for k, v in metrics.items()}, step=fold)
    mlflow.log_metrics({f"oof_{k}": float(v) for k, v in outcome.metrics.items()})

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


def _champion_metrics(settings: TateSettings) -> dict[str, float] | None:
    champion = tracking.alias_version(settings, tracking.CHAMPION)
    if champion is None or champion.run_id is None:
        return None
    run = tracking.client(settings).get_run(champion.run_id)
    return {k.removeprefix("oof_"): v for k, v in run.data.metrics.items() if k.startswith("oof_")}


@task
def log_and_register(
    settings: TateSettings,
    outcome: TrainingOutcome,
    bars: dict[str, pd.DataFrame],
    run_name: str,
    validation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tracking.use_experiment(settings)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=run_name) as run:
        workdir = Path(tmp)
        _log_run_contents(settings, outcome, bars, workdir, validation)
        info = mlflow.pyfunc.log_model(
            **log_model_kwargs(outcome.booster, outcome.model_config, workdir / "model"),
            registered_model_name=settings.model_name,
        )
        version = str(info.registered_model_version)
        # before any alias can point at it: the worker refuses a version without its digest
        tracking.record_model_digest(tracking.client(settings), settings.model_name, version)
        decision = _decide_aliases(settings, outcome, version, run.info.run_id)
    return {"run_id": run.info.run_id, "version": version, **decision}


def _decide_aliases(
    settings: TateSettings, outcome: TrainingOutcome, version: str, run_id: str
) -> dict[str, Any]:
    client = tracking.client(settings)
    champion = _champion_metrics(settings)
    gate: GateDecision = decide_promotion(outcome.metrics, champion, outcome.gate_thresholds)
    tags = {
        "gate_passed": str(gate.passed),
        "gate_reasons": "; ".join(gate.reasons)[:4000] or "all checks passed",
        "holdout_start": outcome.holdout_start.isoformat(),
        "run_id": run_id,
        "booster_sha256": outcome.booster_sha256,
    }
    for key, value in tags.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    mlflow.set_tags(
        {"tate.gate_passed": str(gate.passed), "tate.gate_reasons": tags["gate_reasons"]}
    )
    if champion is None:
        tracking.set_alias(settings, tracking.CHAMPION, version, by="retrain:first-version")
        return {
            "alias": tracking.CHAMPION,
            "gate_passed": gate.passed,
            "gate_reasons": gate.reasons,
        }
    if gate.passed:
        tracking.set_alias(settings, tracking.CANARY, version, by="retrain:gate-passed")
        return {"alias": tracking.CANARY, "gate_passed": True, "gate_reasons": gate.reasons}
    return {"alias": None, "gate_passed": False, "gate_reasons": gate.reasons}


@flow(name="retrain")
def retrain(
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    num_boost_round: int | None = None,
    learning_rate: float | None = None,
    shuffle_labels: bool = False,
) -> dict[str, Any]:
    """Train on the store, log one MLflow run, register a version and move aliases by the gate.

    Parameters are what the Prefect UI's Run form offers: symbols (default: every stored symbol), a date
    range (ISO dates, UTC), LightGBM overrides, and `shuffle_labels` (a control that must fail the gate).
    """
    settings = TateSettings()
    logger = get_run_logger()
    config = TrainConfig()
    overrides: dict[str, Any] = {"shuffle_labels": shuffle_labels}
    if num_boost_round is not None:
        overrides["num_boost_round"] = num_boost_round
    if learning_rate is not None:
        overrides["params"] = {**config.params, "learning_rate": learning_rate}
    config = replace(config, **overrides)
    raw = load_training_bars(settings, symbols, start, end)  # bad symbols/ranges fail here, first
    verdict = judged_store(settings, sorted(raw))
    bars, quarantined = drop_quarantined(raw, verdict["quarantine_file"])
    outcome = fit(bars, config)
    run_name = datetime.now().astimezone().strftime("retrain-%Y%m%d-%H%M%S")
    validation = {**verdict, "quarantined_rows": quarantined}
    result = log_and_register(settings, outcome, bars, run_name, validation)
    logger.info(
        "version %s of %s (run %s): OOF AUC %.3f, net Sharpe %.2f; alias %s",
        result["version"],
        settings.model_name,
        result["run_id"],
        outcome.metrics.get("auc", float("nan")),
        outcome.metrics.get("sharpe_net", float("nan")),
        result["alias"],
    )
    return result
