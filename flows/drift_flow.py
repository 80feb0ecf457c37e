"""Drift: the features a model trained on against the features the worker journaled for it.

Our own vectorized statistics (PSI, KS, Wasserstein) decide; Evidently's HTML report is for people.
Both land in MLflow as artifacts of a `drift` run tagged with the model version, and under
TATE_HOME/reports/drift/<stamp>/.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from prefect import flow, get_run_logger, task

from flows import tracking
from flows.errors import AliasNotFoundError, NoJournaledFeaturesError
from flows.reports import run_folder, write_index, write_json
from flows.settings import TateSettings
from models.drift import any_drift, drift_table
from serving.journal import Journal
from serving.registry.references import training_reference

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
def journaled_features(settings: TateSettings, version: str, columns: list[str]) -> pd.DataFrame:
    decisions = Journal(settings.journal).read_decisions(
        model_name=settings.model_name, version=version
    )
    if decisions.empty:
        raise NoJournaledFeaturesError(
            f"the journal {settings.journal_label} has no decisions of {settings.model_name} "
            f"version {version}; run `tate serve` first"
        )
    return decisions[columns].astype(float)


def evidently_html(reference: pd.DataFrame, current: pd.DataFrame, path: Path) -> Path:
    """Evidently's DataDriftPreset over the same features, saved as a standalone HTML page."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            current_data=current.dropna(), reference_data=reference.dropna()
        )
    snapshot.save_html(str(path))
    return path


@task
def write_drift_report(
    settings: TateSettings, version: str, reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, Any]:
    table = drift_table(reference, current)
    folder = run_folder(settings.reports_dir, "drift")
    html = evidently_html(reference, current, folder / "report.html")
    table_path = folder / "drift_table.csv"
    table.to_csv(table_path, index=True)
    drifted = bool(any_drift(table))
    summary = write_json(
        folder / "summary.json",
        {
            "model_name": settings.model_name,
            "version": version,
            "drifted": drifted,
            "rows_reference": len(reference),
            "rows_current": len(current),
            "features": table.reset_index().to_dict(orient="records"),
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
        for path in (html, table_path, summary):
            mlflow.log_artifact(str(path), artifact_path="drift")
    tracking.client(settings).set_model_version_tag(
        settings.model_name, version, "drift_flagged", str(drifted)
    )
    return {
        "drifted": drifted,
        "report": str(html),
        "table": str(table_path),
        "run_id": run.info.run_id,
    }


@flow(name="drift-report")
def drift_report(role: str = "champion", version: str | None = None) -> dict[str, Any]:
    """Compare a version's training features with what the worker saw while trading it."""
    settings = TateSettings()
    resolved = resolve_version(settings, role, version)
    reference = reference_features(settings, resolved)
    current = journaled_features(settings, resolved, list(reference.columns))
    result = write_drift_report(settings, resolved, reference, current)
    get_run_logger().info(
        "drift of %s v%s: %s; report %s",
        settings.model_name,
        resolved,
        "FLAGGED" if result["drifted"] else "none",
        result["report"],
    )
    return result
