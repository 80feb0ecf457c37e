"""Drift that acts: data, prediction and concept drift of a version, and a halt when it matters.

Data drift compares the features the model trained on with those the worker journaled for it;
prediction drift its journaled confidence with its out-of-fold predictions (run artifact
`cv/oof_predictions.parquet`); concept drift the realised hit rate, log loss and PnL per trade of
journaled decisions whose labels are now known (read from the bar store) with the out-of-fold
figures, inside a confidence band. Our own vectorized statistics decide; Evidently's HTML report is
for people. Everything lands in MLflow as a `drift` run tagged with the model version, on the
version's tags, and under TATE_HOME/reports/drift/<stamp>/.

The flow halts the registered model (its `halted` tag, which the worker obeys at its next poll)
when a key feature's PSI reaches `TATE_PSI_THRESHOLD` or concept drift leaves its band on the
losing side, and with `TATE_DRIFT_RETRAIN` starts the `retrain/on-demand` deployment when a
Prefect API is up. It never clears a halt: a person does, with `tate resume --by WHO`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from prefect import flow

from data_contracts.store import BarStore
from data_contracts.synthetic import planted_regime_change
from flows import tracking
from flows.drift_header import DriftVerdict, Window, inject_header, render_drift_header
from flows.errors import AliasNotFoundError, NoJournaledFeaturesError, VersionNotFoundError
from flows.plain_runs import run_logger, task
from flows.reports import run_folder, write_index, write_json
from flows.settings import TateSettings
from flows.stale_runs import skip_if_stale
from flows.verdicts import drift_markdown, publish_verdict
from models.concept_drift import (
    ConceptDrift,
    PredictionDrift,
    concept_drift,
    confidence_from_probability,
    prediction_drift,
    probability_from_decision,
    realised_forward_returns,
    trade_outcomes,
)
from models.drift import any_drift, drift_table, key_features, psi_halt_reasons
from serving.journal import Journal
from serving.registry.references import training_reference

RETRAIN_DEPLOYMENT = "retrain/on-demand"

logger = logging.getLogger(__name__)


@task
def resolve_version(settings: TateSettings, role: str, version: str | None) -> str:
    if version:
        return str(tracking.model_version(settings, version).version)  # raises naming it
    found = tracking.alias_version(settings, role)
    if found is None:
        raise AliasNotFoundError(f"model {settings.model_name!r} has no alias {role!r}")
    return str(found.version)


@task
def reference_features(settings: TateSettings, version: str) -> pd.DataFrame:
    """The training features stored with the version's run (artifact reference/features.parquet)."""
    return training_reference(settings.model_name, version, tracking.tracking_uri(settings))


@task
def journaled_decisions(settings: TateSettings, version: str) -> pd.DataFrame:
    """The version's journaled decisions (features as columns, signal, confidence)."""
    journal = Journal(settings.journal)
    try:
        decisions = journal.read_decisions(model_name=settings.model_name, version=version)
    finally:
        journal.close()
    if decisions.empty:
        raise NoJournaledFeaturesError(
            f"the journal {settings.journal_label} has no decisions of {settings.model_name} "
            f"version {version}; run `tate serve` first"
        )
    return decisions


@dataclass(frozen=True)
class TrainingEvidence:
    """What the version's training run recorded that drift is judged against."""

    oof: pd.DataFrame  # time, symbol, y, probability
    importance: dict[str, float]
    horizon: int
    threshold: float


@task
def training_evidence(settings: TateSettings, version: str) -> TrainingEvidence:
    """The OOF predictions, feature importance and label horizon/threshold of the version's run."""
    from mlflow.artifacts import download_artifacts

    run_id = tracking.model_version(settings, version).run_id
    if run_id is None:
        raise VersionNotFoundError(
            f"version {version} of {settings.model_name!r} has no training run to judge drift by"
        )
    uri = tracking.tracking_uri(settings)
    params = tracking.client(settings).get_run(run_id).data.params
    with tempfile.TemporaryDirectory(prefix="tate-drift-") as tmp:
        oof = pd.read_parquet(
            download_artifacts(
                run_id=run_id,
                artifact_path="cv/oof_predictions.parquet",
                dst_path=tmp,
                tracking_uri=uri,
            )
        )
        gains = pd.read_csv(
            download_artifacts(
                run_id=run_id,
                artifact_path="model_insight/feature_importance.csv",
                dst_path=tmp,
                tracking_uri=uri,
            ),
            index_col=0,
        )
    return TrainingEvidence(
        oof=oof,
        importance={str(k): float(v) for k, v in gains.iloc[:, 0].items()},
        horizon=int(params.get("horizon", 6)),
        threshold=float(params.get("threshold", 0.0)),
    )


@task
def data_drift(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """PSI, KS and Wasserstein per feature (`models.drift.drift_table`)."""
    return drift_table(reference, current)


@dataclass(frozen=True)
class ModelDrift:
    """Prediction and concept drift of one version, and the reasons to halt it (if any)."""

    prediction: PredictionDrift
    concept: ConceptDrift
    halt_reasons: list[str]
    halting_features: tuple[str, ...] = ()  # key features whose PSI reached the halt bar

    @property
    def findings(self) -> list[str]:
        return [self.prediction.words(), *self.concept.reasons()]


@task
def judge_model_drift(
    settings: TateSettings,
    evidence: TrainingEvidence,
    decisions: pd.DataFrame,
    table: pd.DataFrame,
) -> ModelDrift:
    """Prediction and concept drift from the journal, the OOF predictions and the bar store."""
    unique = decisions.drop_duplicates(["bar_time", "symbol"], keep="last")
    oof_confidence = confidence_from_probability(evidence.oof["probability"].to_numpy())
    prediction = prediction_drift(
        oof_confidence,
        unique["confidence"].to_numpy(dtype=np.float64),
        psi_threshold=settings.psi_threshold,
    )
    symbols = sorted(set(unique["symbol"]) | set(evidence.oof["symbol"]))
    store = BarStore(settings.data_dir)
    stored = set(store.symbols(settings.timeframe))
    bars = {name: store.read_bars(name, settings.timeframe) for name in symbols if name in stored}
    reference = trade_outcomes(
        evidence.oof["probability"].to_numpy(dtype=np.float64),
        realised_forward_returns(
            bars, evidence.oof["time"], evidence.oof["symbol"], evidence.horizon
        ),
        evidence.threshold,
    )
    current = trade_outcomes(
        probability_from_decision(
            unique["signal"].to_numpy(), unique["confidence"].to_numpy(dtype=np.float64)
        ),
        realised_forward_returns(bars, unique["bar_time"], unique["symbol"], evidence.horizon),
        evidence.threshold,
    )
    concept = concept_drift(
        reference,
        current,
        block=evidence.horizon,
        z=settings.concept_drift_z,
        min_effective=settings.concept_drift_min_outcomes,
    )
    keys = key_features(evidence.importance, settings.drift_key_features)
    reasons = psi_halt_reasons(table, keys, settings.psi_threshold)
    psi = dict(zip(table["feature"], table["psi"].astype(float), strict=True))
    halting = tuple(k for k in keys if k in psi and psi[k] >= settings.psi_threshold)
    if concept.drifted:
        reasons += ["concept drift: " + check.words() for check in concept.checks if check.worse]
    return ModelDrift(prediction, concept, reasons, halting)


def evidently_html(
    reference: pd.DataFrame, current: pd.DataFrame, path: Path, header: str | None = None
) -> Path:
    """Evidently's DataDriftPreset over the same features, saved as a standalone HTML page (its
    scripts and fonts inline: it renders offline), with tate's header first in its body."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            current_data=current.dropna(), reference_data=reference.dropna()
        )
    snapshot.save_html(str(path))
    if header is not None:
        path.write_text(inject_header(path.read_text(encoding="utf-8"), header), encoding="utf-8")
    return path


@task
def comparison_windows(
    settings: TateSettings, version: str, reference: pd.DataFrame, decisions: pd.DataFrame
) -> tuple[Window, Window]:
    """What each side of the comparison is: the version's training features (bars before its
    hold-out) and the decisions the worker journaled for it (their bar times)."""
    found = tracking.model_version(settings, version)
    holdout = found.tags.get("holdout_start")
    times = pd.to_datetime(decisions["bar_time"], utc=True)
    reference_window = Window(
        f"training features of run {found.run_id}",
        len(reference),
        end=pd.Timestamp(holdout).to_pydatetime() if holdout else None,
    )
    current_window = Window(
        "features the worker journaled with its decisions",
        len(decisions),
        start=times.min().to_pydatetime() if len(times) else None,
        end=times.max().to_pydatetime() if len(times) else None,
    )
    return reference_window, current_window


@task
def write_drift_report(
    settings: TateSettings,
    version: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model_drift: ModelDrift | None = None,
    table: pd.DataFrame | None = None,
    *,
    role: str | None = None,
    act: bool = False,
    windows: tuple[Window, Window] | None = None,
) -> dict[str, Any]:
    """Evidently's HTML under tate's header, the drift table and `summary.json`, in a new
    `reports/drift/<stamp>/`, and a `drift` run in MLflow. ``act`` says whether the flow halts
    on the halt reasons right after (the header and summary say "halted" only then)."""
    table = drift_table(reference, current) if table is None else table
    folder = run_folder(settings.reports_dir, "drift")
    data_drifted = bool(any_drift(table))
    findings = model_drift.findings if model_drift else []
    # a halt is drift too: a key feature's PSI past the bar flags even when its KS does not
    drifted = data_drifted or bool(
        model_drift
        and (
            model_drift.prediction.drifted
            or model_drift.concept.drifted
            or model_drift.halt_reasons
        )
    )
    halt_reasons = model_drift.halt_reasons if model_drift else []
    reference_window, current_window = windows or (
        Window("training features", len(reference)),
        Window("current features", len(current)),
    )
    features = [
        {str(key): value for key, value in row.items()}
        for row in table.reset_index().to_dict(orient="records")
    ]
    verdict = DriftVerdict(
        model_name=settings.model_name,
        version=version,
        role=role,
        reference=reference_window,
        current=current_window,
        features=features,
        drifted=drifted,
        halt_reasons=halt_reasons,
        halting_features=model_drift.halting_features if model_drift else (),
        acted=act,
        findings=findings,
        planted_regime_change=planted_regime_change(settings.data_dir),
    )
    html = evidently_html(reference, current, folder / "report.html", render_drift_header(verdict))
    table_path = folder / "drift_table.csv"
    table.to_csv(table_path, index=True)
    summary = write_json(
        folder / "summary.json",
        {
            "model_name": settings.model_name,
            "version": version,
            "role": role,
            "drifted": drifted,
            "data_drifted": data_drifted,
            "findings": findings,
            "halt_reasons": halt_reasons,
            "halted": bool(halt_reasons and act),
            "halting_features": list(verdict.halting_features),
            "planted_regime_change": verdict.planted_regime_change,
            "reference_window": reference_window.words(),
            "current_window": current_window.words(),
            "rows_reference": len(reference),
            "rows_current": len(current),
            "features": features,
        },
    )
    write_index(settings.reports_dir)
    tracking.use_experiment(settings)
    with mlflow.start_run(run_name=f"drift-v{version}") as run:
        mlflow.set_tags(
            {"tate.kind": "drift", "tate.model_version": version, "tate.drifted": str(drifted)}
        )
        for feature, row in table.iterrows():
            mlflow.log_metrics(
                {
                    f"psi_{feature}": float(row["psi"]),
                    f"ks_{feature}": float(row["ks"]),
                    f"wasserstein_{feature}": float(row["wasserstein"]),
                }
            )
        if model_drift is not None:
            mlflow.log_metrics(_model_drift_metrics(model_drift))
        for path in (html, table_path, summary):
            mlflow.log_artifact(str(path), artifact_path="drift")
    tracking.client(settings).set_model_version_tag(
        settings.model_name, version, "drift_flagged", str(drifted)
    )
    return {
        "drifted": drifted,
        "findings": findings,
        "report": str(html),
        "table": str(table_path),
        "run_id": run.info.run_id,
    }


def _model_drift_metrics(model_drift: ModelDrift) -> dict[str, float]:
    metrics = {
        "prediction_psi": model_drift.prediction.psi,
        "prediction_ks": model_drift.prediction.ks,
        "concept_trades": float(model_drift.concept.n_trades),
    }
    for check in model_drift.concept.checks:
        metrics[f"concept_{check.name}"] = check.current
        metrics[f"concept_{check.name}_oof"] = check.reference
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def prefect_api_reachable() -> bool:
    """A Prefect API is configured (not a temporary server of this process) and answers."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return False
    with get_client(sync_client=True) as client:
        return client.api_healthcheck() is None


def launch_retraining() -> str:
    """Start `retrain/on-demand` without waiting for it; the flow run's id."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = run_deployment(RETRAIN_DEPLOYMENT, timeout=0)
    if not isinstance(run, FlowRun):  # only an async caller gets a coroutine
        raise TypeError(f"run_deployment returned {type(run).__name__}, not a flow run")
    return str(run.id)


def maybe_start_retraining(
    settings: TateSettings,
    *,
    reachable: Callable[[], bool] = prefect_api_reachable,
    launch: Callable[[], str] = launch_retraining,
) -> str | None:
    """Start retraining after a halt when `TATE_DRIFT_RETRAIN` asks for it and an API is up."""
    if not settings.drift_retrain:
        return None
    if not reachable():
        logger.warning("TATE_DRIFT_RETRAIN is set but no Prefect API answers: run `tate up`")
        return None
    return launch()


@task
def act_on_drift(settings: TateSettings, version: str, reasons: list[str]) -> dict[str, Any]:
    """Halt the registered model for these reasons and, when configured, start retraining."""
    reason = "; ".join(reasons)
    tracking.halt(settings, version=version, reason=reason, by="drift-report")
    started = maybe_start_retraining(settings)
    if started:
        tracking.client(settings).set_model_version_tag(
            settings.model_name, version, "retrain_flow_run", started
        )
    return {"halted": reason, "retrain_flow_run": started}


@task
def publish_drift_verdict(settings: TateSettings, result: Mapping[str, Any]) -> Path:
    """The verdict (halted or not, and why) beside the run's report, in Prefect too; after the
    halt, which the summary written with the report cannot know yet."""
    folder = Path(result["report"]).parent
    summary = {
        **json.loads((folder / "summary.json").read_text()),
        "halted": result.get("halted"),  # the home tells a halt from a report-only flag
        "retrain_flow_run": result.get("retrain_flow_run"),
    }
    write_json(folder / "summary.json", summary)
    markdown = drift_markdown(summary, result.get("halted"), result.get("retrain_flow_run"))
    word = "HALTED" if result.get("halted") else "FLAGGED" if result["drifted"] else "no drift"
    path = publish_verdict(folder, "drift", markdown, f"drift of v{result['version']}: {word}")
    write_index(settings.reports_dir)
    return path


@flow(name="drift-report")
def drift_report(
    role: str = "champion", version: str | None = None, act: bool = True
) -> dict[str, Any]:
    """Compare a version's training with what the worker saw and did while trading it.

    Args:
        role: alias whose version to check.
        version: explicit version instead of the alias.
        act: halt the model (and start retraining when `TATE_DRIFT_RETRAIN` is set) when a key
            feature's PSI or concept drift says so; False reports only.
    """
    settings = TateSettings()
    logger_ = run_logger()
    if skipped := skip_if_stale("drift-report", datetime.now(UTC), logger_):
        return skipped
    resolved = resolve_version(settings, role, version)
    reference = reference_features(settings, resolved)
    decisions = journaled_decisions(settings, resolved)
    current = decisions[list(reference.columns)].astype(float)
    evidence = training_evidence(settings, resolved)
    table = data_drift(reference, current)
    model_drift = judge_model_drift(settings, evidence, decisions, table)
    windows = comparison_windows(settings, resolved, reference, decisions)
    result = write_drift_report(
        settings,
        resolved,
        reference,
        current,
        model_drift,
        table,
        role=None if version else role,
        act=act,
        windows=windows,
    )
    result.update({"version": resolved, "halt_reasons": model_drift.halt_reasons, "halted": None})
    if model_drift.halt_reasons and act:
        result.update(act_on_drift(settings, resolved, model_drift.halt_reasons))
    result["verdict"] = str(publish_drift_verdict(settings, result))
    for line in model_drift.findings:
        logger_.info("%s", line)
    logger_.info(
        "drift of %s v%s: %s; report %s%s",
        settings.model_name,
        resolved,
        "FLAGGED" if result["drifted"] else "none",
        result["report"],
        f"; HALTED: {result['halted']}" if result["halted"] else "",
    )
    return result
