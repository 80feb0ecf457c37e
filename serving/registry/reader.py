"""Read the registry's control state (aliases, tags) with short, per-call time limits.

MLflow's client retries for minutes when the server is down (its timeouts and retries are
process-wide environment variables, not safe to change from a background thread). The worker
needs the opposite: an answer or a quick "unreachable", so it can keep trading the last good
models. Against a tracking *server* we therefore call MLflow's REST API ourselves with a
``requests`` session (timeout per call, a few tenacity retries); against a local store (a
``sqlite:///`` URI, no network) the plain ``MlflowClient`` is already fast.

One call returns both aliases and registered-model tags, so a poll sees a consistent pair
(e.g. ``halted`` set in the MLflow UI together with an alias move).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed


class RegistryUnreachableError(RuntimeError):
    """The registry did not answer (connection refused, timeout, 5xx)."""


class RegistrySnapshot(NamedTuple):
    """Aliases (alias → version) and registered-model tags at one moment; empty if no model."""

    aliases: Mapping[str, str]
    tags: Mapping[str, str]


class VersionRecord(NamedTuple):
    """What the registry says about one version: the run that logged it, and its tags."""

    run_id: str | None
    tags: Mapping[str, str]


class RegistryReader(Protocol):
    def snapshot(self, name: str) -> RegistrySnapshot: ...

    def model_version(self, name: str, version: str) -> VersionRecord: ...


class _RetryableHTTPError(Exception):
    pass


def _auth_headers() -> dict[str, str]:
    """MLflow's own auth variables, so a server behind basic auth or a token works as-is."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _basic_auth() -> tuple[str, str] | None:
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    return (user, password) if user and password else None


class RestRegistryReader:
    """MLflow REST API over HTTP(S) with a timeout per call and at most ``retries`` retries."""

    def __init__(self, base_url: str, *, timeout_seconds: float = 2.0, retries: int = 1) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds, self.retries = timeout_seconds, retries
        self._session = requests.Session()
        self._session.headers.update(_auth_headers())
        self._session.auth = _basic_auth()

    def _get(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any] | None:
        """JSON body, or None when MLflow says the resource does not exist."""
        url = f"{self.base_url}/api/2.0/mlflow/{endpoint}"
        retrying = Retrying(
            stop=stop_after_attempt(1 + self.retries),
            wait=wait_fixed(0.2),
            retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout,
                                           _RetryableHTTPError)),
            reraise=True,
        )  # fmt: skip
        try:
            for attempt in retrying:
                with attempt:
                    response = self._session.get(url, params=params, timeout=self.timeout_seconds)
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _RetryableHTTPError(f"{response.status_code} from {url}")
        except (requests.RequestException, _RetryableHTTPError) as error:
            raise RegistryUnreachableError(f"{url}: {type(error).__name__}: {error}") from error
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryUnreachableError(f"{url}: HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    def snapshot(self, name: str) -> RegistrySnapshot:
        body = self._get("registered-models/get", {"name": name})
        if body is None:
            return RegistrySnapshot({}, {})
        model = body.get("registered_model", {})
        return RegistrySnapshot(
            {a["alias"]: str(a["version"]) for a in model.get("aliases", [])},
            {t["key"]: t.get("value", "") for t in model.get("tags", [])},
        )

    def model_version(self, name: str, version: str) -> VersionRecord:
        body = self._get("model-versions/get", {"name": name, "version": version})
        if body is None:
            return VersionRecord(None, {})
        found = body["model_version"]
        return VersionRecord(
            found.get("run_id") or None,
            {t["key"]: t.get("value", "") for t in found.get("tags", [])},
        )


class ClientRegistryReader:
    """A local registry (``sqlite:///``) through ``MlflowClient``: no network to time out."""

    def __init__(self, tracking_uri: str | None) -> None:
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def snapshot(self, name: str) -> RegistrySnapshot:
        from mlflow.exceptions import MlflowException

        try:
            model = self._client.get_registered_model(name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return RegistrySnapshot({}, {})
            raise RegistryUnreachableError(str(error)) from error
        except Exception as error:  # a locked or missing database file
            raise RegistryUnreachableError(f"{type(error).__name__}: {error}") from error
        return RegistrySnapshot(
            {alias: str(version) for alias, version in model.aliases.items()}, dict(model.tags)
        )

    def model_version(self, name: str, version: str) -> VersionRecord:
        found = self._client.get_model_version(name, version)
        return VersionRecord(found.run_id or None, dict(found.tags))


def registry_reader(
    tracking_uri: str | None, *, timeout_seconds: float = 2.0, retries: int = 1
) -> RegistryReader:
    """REST reader for an ``http(s)://`` tracking server, the MLflow client otherwise."""
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return RestRegistryReader(tracking_uri, timeout_seconds=timeout_seconds, retries=retries)
    return ClientRegistryReader(tracking_uri)
