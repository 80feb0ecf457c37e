"""What the drift flow judges a version by, read from where it lives.

The version itself (an explicit number or an alias), the features its training run stored, the
decisions the worker journaled for it, and its run's out-of-fold predictions, feature importance
and label horizon/threshold; and what each side of the comparison is, for the report's header.
Each read is a task; `flows/drift_flow.py` judges and reports.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import pandas as pd

from flows import tracking
from flows.drift_header import Window
from flows.errors import AliasNotFoundError, NoJournaledFeaturesError, VersionNotFoundError
from flows.plain_runs import task
from flows.settings import TateSettings
from serving.journal import Journal
from serving.registry.references import training_reference


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
