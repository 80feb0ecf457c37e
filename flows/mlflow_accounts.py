"""One MLflow account per role on a tracking server behind basic auth (`--app-name basic-auth`).

The stack's MLflow grants nothing by default (`default_permission = NO_PERMISSIONS`,
`infra/mlflow/basic_auth.ini`), so an account nobody granted sees nothing. This script, run as
MLflow's admin once the server is up (`python -m flows.mlflow_accounts`; compose's
`mlflow-accounts` service), makes the rest true:

- `trainer` (training, the canary gate, the drift flow): EDIT on tate's experiment (runs, logged
  models, artifacts) and MANAGE on the registered model (register versions, tag them, set aliases,
  and delete the canary alias on a rollback, which MLflow counts as a delete);
- `worker` (the serving worker): READ on both — it reads aliases and tags and downloads the
  champion and canary, and cannot register, tag or move an alias.

The experiment and the registered model are created here, as admin, when missing: a READ grant
needs something to point at, and an experiment the server creates takes the server's artifact
store (`--artifacts-destination`, S3 in the stack) rather than a local folder.

It runs again safely: existing accounts get the password the environment holds now (rotating a
secret in `infra/.env` and re-running rotates it), grants are set, not added.

Environment: `MLFLOW_TRACKING_URI`, `MLFLOW_AUTH_ADMIN_USERNAME` (default `admin`),
`MLFLOW_AUTH_ADMIN_PASSWORD`, and one `MLFLOW_<ROLE>_PASSWORD` per role in `ROLE_PASSWORDS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests

from flows.settings import TateSettings

logger = logging.getLogger(__name__)

# role (the account's user name) -> the variable holding its password
ROLE_PASSWORDS = {"trainer": "MLFLOW_TRAINER_PASSWORD", "worker": "MLFLOW_WORKER_PASSWORD"}
EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
TIMEOUT_SECONDS = 60  # every request hashes the password (PBKDF2): slow on a loaded host


class Grant(NamedTuple):
    username: str
    resource_type: str
    resource_id: str
    permission: str


def role_grants(experiment_id: str, model_name: str) -> list[Grant]:
    """What each role may do: the trainer writes, the worker only reads."""
    return [
        Grant("trainer", EXPERIMENT, experiment_id, "EDIT"),
        Grant("trainer", REGISTERED_MODEL, model_name, "MANAGE"),
        Grant("worker", EXPERIMENT, experiment_id, "READ"),
        Grant("worker", REGISTERED_MODEL, model_name, "READ"),
    ]


def required(env: Mapping[str, str], name: str) -> str:
    """A variable that must be set and non-empty; the message names it."""
    value = env.get(name, "")
    if not value:
        raise SystemExit(f"mlflow_accounts: set {name} (infra/.env); it is empty or missing")
    return value


class AdminSession:
    """MLflow's REST API as its admin, failing loudly on any answer but the expected ones."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.auth = (username, password)

    def call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> requests.Response:
        response = self._session.request(
            method, f"{self.url}/api/{path}", timeout=TIMEOUT_SECONDS, **kwargs
        )
        if response.status_code not in ok:
            raise RuntimeError(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response


def ensure_user(admin: AdminSession, username: str, password: str) -> None:
    """Create the account, or give an existing one the password the environment holds."""
    found = admin.call("GET", "2.0/mlflow/users/get", params={"username": username}, ok=(200, 404))
    if found.status_code == 404:
        admin.call(
            "POST", "2.0/mlflow/users/create", json={"username": username, "password": password}
        )
        logger.info("created MLflow account %s", username)
    else:
        admin.call(
            "PATCH", "2.0/mlflow/users/update-password",
            json={"username": username, "password": password},
        )  # fmt: skip


def ensure_experiment(admin: AdminSession, name: str) -> str:
    """tate's experiment id, created on the server's default artifact store when missing."""
    found = admin.call(
        "GET", "2.0/mlflow/experiments/get-by-name", params={"experiment_name": name},
        ok=(200, 404),
    )  # fmt: skip
    if found.status_code == 200:
        return str(found.json()["experiment"]["experiment_id"])
    created = admin.call("POST", "2.0/mlflow/experiments/create", json={"name": name})
    return str(created.json()["experiment_id"])


def ensure_registered_model(admin: AdminSession, name: str) -> None:
    found = admin.call(
        "GET", "2.0/mlflow/registered-models/get", params={"name": name}, ok=(200, 404)
    )
    if found.status_code == 404:
        admin.call("POST", "2.0/mlflow/registered-models/create", json={"name": name})


def grant(admin: AdminSession, given: Grant) -> None:
    admin.call("POST", "3.0/mlflow/users/permissions/grant", json=given._asdict())


def create_accounts(
    url: str, env: Mapping[str, str], settings: TateSettings | None = None
) -> list[Grant]:
    """Accounts, experiment, registered model and grants on the server at ``url``; the grants."""
    settings = settings or TateSettings()
    admin = AdminSession(
        url,
        env.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin",
        required(env, "MLFLOW_AUTH_ADMIN_PASSWORD"),
    )
    passwords = {role: required(env, variable) for role, variable in ROLE_PASSWORDS.items()}
    for role, password in passwords.items():
        ensure_user(admin, role, password)
    experiment_id = ensure_experiment(admin, settings.experiment)
    ensure_registered_model(admin, settings.model_name)
    grants = role_grants(experiment_id, settings.model_name)
    for given in grants:
        grant(admin, given)
    return grants


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    env = dict(os.environ)
    grants = create_accounts(required(env, "MLFLOW_TRACKING_URI"), env)
    for given in grants:
        print(f"{given.username}: {given.permission} on {given.resource_type} {given.resource_id}")


if __name__ == "__main__":
    main()
