"""All MLflow writes: experiments, runs, registration, aliases and control tags.

The registry is tate's control plane: aliases `champion` and `canary` say what trades, version tags carry
gate results and provenance. A person in the MLflow UI and these functions do the same things.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from flows.settings import TateSettings
from models.packaging import DIGEST_TAG, model_digest
from serving.model_loading import download_model_version

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CANARY = "canary"
REPO_ROOT = Path(__file__).resolve().parents[1]


class AliasNotFoundError(LookupError):
    """A model alias the caller named does not exist in the registry."""


def tracking_uri(settings: TateSettings) -> str:
    """The tracking server the user chose, or the embedded SQLite store under TATE_HOME."""
    return os.environ.get("MLFLOW_TRACKING_URI") or settings.mlflow_db_uri


def use_experiment(settings: TateSettings) -> str:
    """Select tate's experiment, creating it with an explicit file:// artifact root under TATE_HOME.

    The explicit root keeps artifacts readable whether runs are made on the embedded store or through
    `tate up`'s server (which serves the same store with `--no-serve-artifacts`).
    """
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(settings))
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is None:
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(
            settings.experiment, artifact_location=settings.artifact_root.as_uri()
        )
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def client(settings: TateSettings) -> MlflowClient:
    """A client on the settings' store for tracking *and* registry (never MLflow's default)."""
    uri = tracking_uri(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def git_commit() -> str | None:
    """The commit the code was trained from, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def git_dirty() -> bool:
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return bool(done.stdout.strip())


TRACKED_PACKAGES = (
    "lightgbm",
    "numpy",
    "pandas",
    "scikit-learn",
    "mlflow",
    "prefect",
    "great-expectations",
    "evidently",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run's numbers depend on (the lock says the rest)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def locked_requirements() -> Path | None:
    path = REPO_ROOT / "requirements.lock"
    return path if path.exists() else None


def alias_version(settings: TateSettings, alias: str) -> ModelVersion | None:
    """The version behind an alias, or None when the alias (or the model) does not exist."""
    try:
        return client(settings).get_model_version_by_alias(settings.model_name, alias)
    except MlflowException:
        return None


def set_alias(settings: TateSettings, alias: str, version: str, *, by: str) -> None:
    """Point an alias at a version and record who moved it, as a person in the UI would."""
    mlflow_client = client(settings)
    mlflow_client.get_model_version(settings.model_name, version)  # raises naming the version
    mlflow_client.set_registered_model_alias(settings.model_name, alias, version)
    mlflow_client.set_model_version_tag(settings.model_name, version, f"{alias}_set_by", by)
    logger.info("alias %s of %s -> version %s (%s)", alias, settings.model_name, version, by)


def promote_canary(settings: TateSettings, *, by: str) -> str:
    """Make the current canary the champion; the old champion stays registered for rollback."""
    canary = alias_version(settings, CANARY)
    if canary is None:
        raise AliasNotFoundError(
            f"model {settings.model_name!r} has no alias {CANARY!r} to promote"
        )
    champion = alias_version(settings, CHAMPION)
    mlflow_client = client(settings)
    if champion is not None:
        mlflow_client.set_model_version_tag(
            settings.model_name, canary.version, "previous_champion", champion.version
        )
    set_alias(settings, CHAMPION, canary.version, by=by)
    mlflow_client.delete_registered_model_alias(settings.model_name, CANARY)
    return str(canary.version)


def rollback_champion(settings: TateSettings, *, by: str, to_version: str | None = None) -> str:
    """Point `champion` back at the version it replaced (or at `to_version`)."""
    champion = alias_version(settings, CHAMPION)
    if champion is None:
        raise AliasNotFoundError(
            f"model {settings.model_name!r} has no alias {CHAMPION!r} to roll back"
        )
    target = to_version or champion.tags.get("previous_champion")
    if not target:
        raise AliasNotFoundError(
            f"champion version {champion.version} of {settings.model_name!r} records no previous "
            "champion; name one with --to-version"
        )
    set_alias(settings, CHAMPION, str(target), by=by)
    client(settings).set_model_version_tag(
        settings.model_name, str(target), "rolled_back_from", champion.version
    )
    return str(target)


def record_model_digest(mlflow_client: MlflowClient, name: str, version: str) -> str:
    """Tag a new version with the digest of its logged files (``tate.model_sha256``).

    The digest is taken from the registry's own copy, downloaded the way the worker will
    download it, so what the worker checks is exactly what was registered.
    """
    with tempfile.TemporaryDirectory(prefix="tate-digest-") as tmp:
        local = download_model_version(
            name, version, tracking_uri=mlflow_client.tracking_uri, dst=Path(tmp) / "model"
        )
        digest = model_digest(local)
    mlflow_client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    return digest
