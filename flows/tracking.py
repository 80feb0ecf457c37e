"""All MLflow writes: experiments, runs, registration, aliases and control tags.

The registry is tate's control plane: aliases `champion` and `canary` say what trades, version tags carry
gate results and provenance. A person in the MLflow UI and these functions do the same things.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from flows.errors import (
    AliasNotFoundError,
    BadOptionError,
    PromotionRefusedError,
    TrackingServerUnreachableError,
    VersionNotFoundError,
)
from flows.settings import TateSettings
from flows.signing import sign_version
from models.packaging import DIGEST_TAG, model_digest
from serving.registry.loading import download_model_version
from serving.registry.signatures import KEY_ID_TAG, SIGNATURE_TAG
from serving.registry.source import (
    HALTED_REASON_TAG,
    HALTED_TAG,
    halt_reason,
)

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CANARY = "canary"
REPO_ROOT = Path(__file__).resolve().parents[1]
# version tags the training gate writes and `promote` reads
GATE_PASSED_TAG = "gate_passed"
GATE_FAILED_TAG = "gate_failed_checks"

# What MLflow answers for a model, version or alias that is not there (an alias: "invalid
# parameter"; a version that is not a number: the same). Anything else, e.g. a tracking server
# that does not answer, is not the operator naming something wrong and is not translated.
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


def tracking_uri(settings: TateSettings) -> str:
    """The tracking server the user chose, or the embedded SQLite store under TATE_HOME."""
    return os.environ.get("MLFLOW_TRACKING_URI") or settings.mlflow_db_uri


def use_experiment(settings: TateSettings) -> str:
    """Select tate's experiment, creating it with an explicit file:// artifact root under TATE_HOME.

    The explicit root keeps artifacts readable whether runs are made on the embedded store or through
    `tate up`'s server (which serves the same store with `--no-serve-artifacts`).
    """
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    # both: a registry URI left by anything earlier in the process would otherwise receive
    # the fluent API's registrations while the tracking URI gets the runs
    mlflow.set_tracking_uri(tracking_uri(settings))
    mlflow.set_registry_uri(tracking_uri(settings))
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


def unreachable(settings: TateSettings, error: MlflowException) -> Exception:
    """A tracking server that did not answer, told apart from every other MLflow failure.

    MLflow's REST client words a refused connection or exhausted retries "API request to …
    failed"; anything else stays the MlflowException it was (a bug until shown otherwise).
    """
    if "API request to" in error.message and "failed with exception" in error.message:
        return TrackingServerUnreachableError(
            f"the model registry at {tracking_uri(settings)} did not answer; start it "
            "(`tate up`) or fix MLFLOW_TRACKING_URI"
        )
    return error


def alias_version(settings: TateSettings, alias: str) -> ModelVersion | None:
    """The version behind an alias, or None when the alias (or the model) does not exist.

    Raises:
        TrackingServerUnreachableError: the tracking server did not answer.
        MlflowException: the registry failed otherwise.
    """
    try:
        return client(settings).get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as error:
        if error.error_code in NOT_FOUND_CODES:
            return None
        raise unreachable(settings, error) from error


def model_version(settings: TateSettings, version: str) -> ModelVersion:
    """A version of the settings' model.

    Raises:
        VersionNotFoundError: no such version (or model); the message names both.
    """
    try:
        return client(settings).get_model_version(settings.model_name, version)
    except MlflowException as error:
        if error.error_code in NOT_FOUND_CODES:
            raise VersionNotFoundError(
                f"model {settings.model_name!r} has no version {version!r} in "
                f"{tracking_uri(settings)}"
            ) from error
        raise unreachable(settings, error) from error


def set_alias(settings: TateSettings, alias: str, version: str, *, by: str) -> None:
    """Point an alias at a version and record who moved it, as a person in the UI would.

    Raises:
        VersionNotFoundError: the version does not exist (nothing is changed).
    """
    model_version(settings, version)
    mlflow_client = client(settings)
    mlflow_client.set_registered_model_alias(settings.model_name, alias, version)
    mlflow_client.set_model_version_tag(settings.model_name, version, f"{alias}_set_by", by)
    logger.info("alias %s of %s -> version %s (%s)", alias, settings.model_name, version, by)


def promote(
    settings: TateSettings,
    *,
    version: str | None = None,
    by: str,
    force: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> str:
    """Make the canary (or the named version) the champion; return the champion's version.

    The version it replaces is recorded on the new champion as ``previous_champion`` (and stays
    registered), so `rollback_champion` can return to it. When the promoted version is the
    canary, the ``canary`` alias is removed: one version does not trade as both roles.
    Promoting the current champion changes nothing. Who promoted, when and why are recorded on
    the version (``promoted_by``, ``promoted_at``, ``promotion_reason``, ``forced``).

    A version whose training gate failed is refused unless ``force``: overruling the gate is
    a person's decision, made with a name and a reason (as in the MLflow UI, where anyone with
    write access may move an alias). A version without a recorded gate is not refused.

    Raises:
        AliasNotFoundError: no version named and no canary to promote.
        VersionNotFoundError: the named version does not exist (nothing is changed).
        BadOptionError: ``force`` without a reason (nothing is changed).
        PromotionRefusedError: the version failed its gate and ``force`` was not given.
    """
    if force and not (reason or "").strip():
        raise BadOptionError("promote --force needs --reason: say why the gate is overruled")
    canary = alias_version(settings, CANARY)
    if version is None:
        if canary is None:
            raise AliasNotFoundError(
                f"model {settings.model_name!r} has no alias {CANARY!r} to promote; "
                "name one with --version"
            )
        version = str(canary.version)
    candidate = model_version(settings, version)
    if candidate.tags.get(GATE_PASSED_TAG) == "False" and not force:
        failed = candidate.tags.get(GATE_FAILED_TAG) or candidate.tags.get("gate_reasons", "")
        raise PromotionRefusedError(
            f"version {version} of {settings.model_name!r} failed its gate ({failed}); "
            "overrule with --force --by WHO --reason TEXT"
        )
    champion = alias_version(settings, CHAMPION)
    if champion is not None and str(champion.version) == version:
        return version
    mlflow_client = client(settings)
    if champion is not None:
        mlflow_client.set_model_version_tag(
            settings.model_name, version, "previous_champion", champion.version
        )
    record = {
        "promoted_by": by,
        "promoted_at": (now or datetime.now(UTC)).isoformat(),
        "forced": str(force).lower(),
    }
    if reason:
        record["promotion_reason"] = reason[:4000]
    for key, value in record.items():
        mlflow_client.set_model_version_tag(settings.model_name, version, key, value)
    set_alias(settings, CHAMPION, version, by=by)
    if canary is not None and str(canary.version) == version:
        mlflow_client.delete_registered_model_alias(settings.model_name, CANARY)
    return version


def halt(
    settings: TateSettings, *, version: str, reason: str, by: str, now: datetime | None = None
) -> None:
    """Set the registered model's ``halted`` tag (the worker stops opening trades at its next
    poll) and record the halt on the version whose evidence caused it."""
    at = (now or datetime.now(UTC)).isoformat()
    mlflow_client = client(settings)
    name = settings.model_name
    for key, value in {
        HALTED_TAG: "true",
        HALTED_REASON_TAG: reason[:4000],
        "halted_by": by,
        "halted_at": at,
        "halted_version": version,
    }.items():
        mlflow_client.set_registered_model_tag(name, key, value)
    for key, value in {"halted_reason": reason[:4000], "halted_by": by, "halted_at": at}.items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    logger.warning("halted %s (version %s) by %s: %s", name, version, by, reason)


def halted(settings: TateSettings) -> str | None:
    """Why the registered model is halted, read as the worker reads it, or None."""
    try:
        tags = client(settings).get_registered_model(settings.model_name).tags
    except MlflowException as error:
        if error.error_code in NOT_FOUND_CODES:
            return None
        raise
    return halt_reason(tags)


def resume(settings: TateSettings, *, by: str, now: datetime | None = None) -> str | None:
    """Clear the ``halted`` tag, recording who cleared it and when; return the halt's reason.

    A model that is not halted is left as it is (None): resuming twice is not an error.
    """
    why = halted(settings)
    if why is None:
        return None
    at = (now or datetime.now(UTC)).isoformat()
    mlflow_client = client(settings)
    name = settings.model_name
    tags = mlflow_client.get_registered_model(name).tags
    for key, value in {HALTED_TAG: "false", "resumed_by": by, "resumed_at": at}.items():
        mlflow_client.set_registered_model_tag(name, key, value)
    version = tags.get("halted_version")
    if version:
        for key, value in {"resumed_by": by, "resumed_at": at}.items():
            mlflow_client.set_model_version_tag(name, version, key, value)
    logger.info("resumed %s by %s (was: %s)", name, by, why)
    return why


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


def sign_model_version(
    mlflow_client: MlflowClient, name: str, version: str, digest: str, key: Ed25519PrivateKey
) -> str:
    """Sign a new version (``tate.signature``, ``tate.signing_key_id``); return the key id.

    The message binds the name, the version, the digest `record_model_digest` took from the
    registry's copy and the run the registry records for the version
    (``serving.registry.signatures.signed_message``). Call it before any alias can point at
    the version: the worker refuses a version without a signature by a key it trusts.
    """
    run_id = mlflow_client.get_model_version(name, version).run_id or ""
    signer, signature = sign_version(key, name=name, version=version, digest=digest, run_id=run_id)
    mlflow_client.set_model_version_tag(name, version, SIGNATURE_TAG, signature)
    mlflow_client.set_model_version_tag(name, version, KEY_ID_TAG, signer)
    return signer
