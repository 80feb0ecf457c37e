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

What it reads is in `flows/drift_evidence.py`, what a halt does in `flows/drift_actions.py`; this
module judges, writes the report and wires the flow.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
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
from flows.drift_actions import act_on_drift
from flows.drift_evidence import (
    TrainingEvidence,
    comparison_windows,
    journaled_decisions,
    reference_features,
    resolve_version,
    training_evidence,
)
from flows.drift_header import DriftVerdict, Window, inject_header, render_drift_header
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
