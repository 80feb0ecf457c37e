"""Where the worker's models come from: registry aliases, polled between bars.

The MLflow registry is the control plane: aliases ``champion`` and ``canary`` say what
trades. ``AliasPoller`` resolves them with short HTTP timeouts (a registry outage must
not stall a bar), reloads a model only when its alias moves to another version, and keeps
the last good models when the registry cannot be reached — trading continues on what was
loaded and ``registry_reachable`` turns False for the metrics. A missing alias means that
role is absent (no canary running), which is not an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

logger = logging.getLogger(__name__)

_ABSENT_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class LoadedModel(NamedTuple):
    name: str
    version: str
    role: str
    model: Any  # the unwrapped python model: has ``window`` and ``decide(window)``


class ModelSource(Protocol):
    """What the worker needs from a model source."""

    registry_reachable: bool

    def current(self) -> dict[str, LoadedModel]: ...

    def refresh(self) -> None: ...


class RegistryClient(Protocol):
    def get_model_version_by_alias(self, name: str, alias: str) -> Any: ...


@contextlib.contextmanager
def short_http(timeout: int, max_retries: int) -> Iterator[None]:
    """Set MLflow's HTTP timeout/retry env vars for the calls inside, then restore them.

    MLflow reads ``MLFLOW_HTTP_REQUEST_TIMEOUT`` / ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` /
    ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` at request time, so scoping them here keeps the
    worker's registry calls short without changing them for anything else in the process.
    """
    wanted = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def alias_absent(error: Exception) -> bool:
    """True when MLflow says the alias (or the model) does not exist, as opposed to an outage."""
    code = str(getattr(error, "error_code", ""))
    return code in _ABSENT_CODES and (
        code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()
    )


def load_python_model(name: str, version: str, tracking_uri: str | None, cache_dir: Path) -> Any:
    """Download ``models:/<name>/<version>`` from the given registry, load it with
    ``mlflow.pyfunc.load_model`` and return the unwrapped python model (for ``decide``).

    Downloading with explicit URIs first pins the registry without touching MLflow's
    process-global tracking URI.
    """
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}",
        dst_path=str(cache_dir / f"{name}-{version}"),
        tracking_uri=tracking_uri,
        registry_uri=tracking_uri,
    )
    return mlflow.pyfunc.load_model(local).unwrap_python_model()


class AliasPoller:
    """Resolves registry aliases to loaded models, keeping the last good ones.

    Args:
        model_name: registered model name.
        aliases: roles to look up; each alias name is the role name.
        tracking_uri: MLflow tracking/registry URI (None: MLflow's own default/env).
        timeout_seconds, max_retries: HTTP limits for each registry call.
        client: registry client (default ``MlflowClient``); tests pass a fake.
        loader: ``(name, version) -> python model`` (default: :func:`load_python_model`).
        cache_dir: where model versions are downloaded (default: a fresh temp dir).
    """

    def __init__(
        self,
        model_name: str,
        aliases: tuple[str, ...] = ("champion", "canary"),
        tracking_uri: str | None = None,
        *,
        timeout_seconds: int = 5,
        max_retries: int = 0,
        client: RegistryClient | None = None,
        loader: Callable[[str, str], Any] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.model_name, self.aliases, self.tracking_uri = model_name, aliases, tracking_uri
        self.timeout_seconds, self.max_retries = timeout_seconds, max_retries
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._client = client
        self._cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="tate-models-"))
        self._loader = loader or (
            lambda name, version: load_python_model(name, version, tracking_uri, self._cache_dir)
        )
        self._models: dict[str, LoadedModel] = {}
        self.registry_reachable = False

    def current(self) -> dict[str, LoadedModel]:
        return dict(self._models)

    def _resolve(self) -> dict[str, str] | None:
        """alias → version for the aliases that exist; None when the registry is unreachable."""
        versions: dict[str, str] = {}
        for alias in self.aliases:
            try:
                with short_http(self.timeout_seconds, self.max_retries):
                    mv = self._client.get_model_version_by_alias(self.model_name, alias)
            except Exception as error:
                if alias_absent(error):
                    continue
                logger.warning(
                    "registry unreachable resolving %s@%s: %s", self.model_name, alias, error
                )
                return None
            versions[alias] = str(mv.version)
        return versions

    def refresh(self) -> None:
        """Re-read the aliases; load versions that changed; drop roles whose alias is gone."""
        versions = self._resolve()
        self.registry_reachable = versions is not None
        if versions is None:
            return
        for role in set(self._models) - set(versions):
            logger.info("alias %s removed; role %s stops", role, role)
            del self._models[role]
        for role, version in versions.items():
            loaded = self._models.get(role)
            if loaded is not None and loaded.version == version:
                continue
            try:
                with short_http(self.timeout_seconds, self.max_retries):
                    model = self._loader(self.model_name, version)
            except Exception:
                logger.exception(
                    "loading %s v%s for %s failed; keeping the last good",
                    self.model_name,
                    version,
                    role,
                )
                continue
            logger.info("%s now serves %s v%s", role, self.model_name, version)
            self._models[role] = LoadedModel(self.model_name, version, role, model)
