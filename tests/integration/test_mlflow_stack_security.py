"""The stack's MLflow, run here for real: basic auth, one account per role, S3 artifacts.

One `mlflow server` on loopback started with `infra/compose.yaml`'s own command line (the app
`basic-auth`, `--serve-artifacts` to `s3://mlflow-artifacts`, `--allowed-hosts`, CORS origins,
`--x-frame-options`) and environment, only the addresses changed to this machine's: its backend
is a SQLite file, its S3 an in-process `moto` server, its auth config `infra/mlflow/basic_auth.ini`
with the user store moved into the test's folder. The accounts are made by the script the stack
runs (`python -m flows.mlflow_accounts`). Then tate's own code trains nothing but registers,
signs and aliases a tiny model as `trainer`, and the worker's verified loading reads it back as
`worker`, through MLflow's artifact proxy, from the S3 bucket.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import mlflow
import pytest
import requests
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from flows.settings import TateSettings
from flows.tracking import record_model_digest, set_alias, sign_model_version, use_experiment
from models.strategies.lgbm_momentum import SIGNATURE
from serving.registry.loading import load_verified_model
from serving.registry.reader import RestRegistryReader
from serving.registry.signatures import KeyRing
from tests.servers import REPO_ROOT, base_env, child, free_port, run_command
from tests.signed_models import code_model, new_key

# Measured: moto + the auth server up in ~10-20 s on a loaded 2-core machine; the module ~40 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

INFRA = REPO_ROOT / "infra"
BUCKET = "mlflow-artifacts"
ADMIN_PASSWORD = secrets.token_urlsafe(16)
PASSWORDS = {"trainer": secrets.token_urlsafe(16), "worker": secrets.token_urlsafe(16)}
# the value each flag takes here instead of the stack's (addresses and stores only)
TIMEOUT = 60  # seconds; the server hashes the password of every request (PBKDF2)


def compose_mlflow() -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"][
        "mlflow"
    ]
    return service


def local_command(port: int, backend: str) -> list[str]:
    """The stack's `mlflow server` command with this machine's addresses and stores."""
    local = {
        "--backend-store-uri": backend,
        "--host": "127.0.0.1",
        "--port": str(port),
        "--allowed-hosts": f"127.0.0.1:{port},localhost:{port}",
        "--cors-allowed-origins": f"http://127.0.0.1:{port},http://localhost:{port}",
    }
    command = []
    for argument in compose_mlflow()["command"]:
        flag = argument.split("=", 1)[0]
        command.append(f"{flag}={local[flag]}" if flag in local else argument)
    assert [a.split("=", 1)[0] for a in command][:2] == ["mlflow", "server"]
    return [str(Path(sys.executable).parent / "mlflow"), *command[1:], "--workers=1"]


def local_auth_config(folder: Path) -> Path:
    """The stack's auth config, its user store moved from the volume into ``folder``."""
    text = (INFRA / "mlflow" / "basic_auth.ini").read_text()
    moved = re.sub(
        r"^database_uri = .*$", f"database_uri = sqlite:///{folder / 'basic_auth.db'}", text,
        flags=re.M,
    )  # fmt: skip
    path = folder / "basic_auth.ini"
    path.write_text(moved)
    return path


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 endpoint on loopback (moto) holding the stack's bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        bucket_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def bucket_client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="tate-test",
        aws_secret_access_key="tate-test", region_name="us-east-1",
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: str) -> Iterator[dict[str, str]]:
    """The stack's MLflow with the accounts the stack's script makes; url and home."""
    home = tmp_path_factory.mktemp("mlflow-auth")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack_env = compose_mlflow()["environment"]
    literal = {k: v for k, v in stack_env.items() if "${" not in str(v)}
    env = (
        base_env(home)
        | literal
        | {
            "MLFLOW_AUTH_CONFIG_PATH": str(local_auth_config(home)),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
            "MLFLOW_S3_ENDPOINT_URL": s3,
            "AWS_ACCESS_KEY_ID": "tate-test",
            "AWS_SECRET_ACCESS_KEY": "tate-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    # every variable the stack gives its MLflow is given here too (the region is moto's need)
    assert set(stack_env) <= set(env), set(stack_env) - set(env)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    command = local_command(port, f"sqlite:///{home / 'mlflow.db'}")
    with child(command, env, home / "mlflow-auth.log", f"{url}/health"):
        accounts = run_command(
            [sys.executable, "-m", "flows.mlflow_accounts"],
            env | {"MLFLOW_TRACKING_URI": url} | {
                f"MLFLOW_{role.upper()}_PASSWORD": p for role, p in PASSWORDS.items()
            },
            timeout_s=300,
        )  # fmt: skip
        log = (home / "mlflow-auth.log").read_text()[-3000:]
        assert accounts.returncode == 0, accounts.stdout + accounts.stderr + log
        assert "worker: READ on registered_model tate-lgbm-momentum" in accounts.stdout
        yield {"url": url, "home": str(home), "s3": s3}


def as_role(monkeypatch: pytest.MonkeyPatch, url: str, role: str) -> None:
    """MLflow's own variables, as the stack sets them for the role's service."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", role)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS[role])


def api(url: str, path: str) -> str:
    return f"{url}/api/2.0/mlflow/{path}"


def test_anonymous_requests_are_refused(server: dict[str, str]) -> None:
    url = server["url"]
    moved = requests.post(
        api(url, "registered-models/alias"),
        json={"name": "tate-lgbm-momentum", "alias": "champion", "version": "1"},
        timeout=TIMEOUT,
    )
    assert moved.status_code == 401
    read = requests.get(api(url, "registered-models/get"), params={"name": "tate-lgbm-momentum"},
                        timeout=TIMEOUT)  # fmt: skip
    assert read.status_code == 401
    wrong = requests.get(api(url, "experiments/search"), auth=("worker", "not-the-password"),
                         timeout=TIMEOUT)  # fmt: skip
    assert wrong.status_code == 401


def test_the_admin_password_is_the_environments_and_the_config_holds_none(
    server: dict[str, str],
) -> None:
    url = server["url"]
    config = (INFRA / "mlflow" / "basic_auth.ini").read_text()
    assert "default_permission = NO_PERMISSIONS" in config
    assert not re.search(r"^admin_password", config, flags=re.M)
    found = requests.get(f"{url}/api/2.0/mlflow/users/get", params={"username": "worker"},
                         auth=("admin", ADMIN_PASSWORD), timeout=TIMEOUT)  # fmt: skip
    assert found.status_code == 200
    assert found.json()["user"]["is_admin"] is False


def test_a_forged_host_header_and_a_foreign_origin_are_refused(server: dict[str, str]) -> None:
    url = server["url"]
    auth = ("worker", PASSWORDS["worker"])
    path = api(url, "registered-models/get")
    params = {"name": "tate-lgbm-momentum"}
    assert requests.get(path, params=params, auth=auth, timeout=TIMEOUT).status_code == 200
    forged = requests.get(
        path, params=params, auth=auth, headers={"Host": "evil.example.com"}, timeout=TIMEOUT
    )
    assert forged.status_code in (400, 403), forged.status_code
    assert "tate-lgbm-momentum" not in forged.text
    preflight = requests.options(
        path,
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        timeout=TIMEOUT,
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") != "https://evil.example.com"
    assert requests.get(f"{url}/health", timeout=TIMEOUT).headers.get("X-Frame-Options") == "DENY"


def test_trainer_registers_to_s3_and_the_read_only_worker_loads_but_cannot_write(
    server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = server["url"]
    settings = TateSettings(home=tmp_path / "home")
    name = settings.model_name
    key = new_key(tmp_path / "keys")

    as_role(monkeypatch, url, "trainer")  # tate's own functions, as the trainer service runs them
    use_experiment(settings)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=code_model(tmp_path / "code"), signature=SIGNATURE,
            registered_model_name=name, pip_requirements=["mlflow"],
        )  # fmt: skip
    version = str(info.registered_model_version)
    trainer = MlflowClient(tracking_uri=url, registry_uri=url)
    sign_model_version(trainer, name, version, record_model_digest(trainer, name, version), key)
    set_alias(settings, "champion", version, by="test")
    # the model's files are in the bucket, not on this machine's disk
    stored = bucket_client(server["s3"]).list_objects_v2(Bucket=BUCKET)
    assert any(item["Key"].endswith("/MLmodel") for item in stored.get("Contents", []))
    assert not list(Path(server["home"]).rglob("MLmodel"))

    as_role(monkeypatch, url, "worker")
    reader = RestRegistryReader(url)
    assert reader.snapshot(name).aliases == {"champion": version}
    model = load_verified_model(
        name, version, reader=reader, tracking_uri=url, cache_dir=tmp_path / "cache",
        ring=KeyRing([tmp_path / "keys"]),
    )  # fmt: skip
    assert model.decide(model_window(model)).signal == 1
    worker = MlflowClient(tracking_uri=url, registry_uri=url)
    source = worker.get_model_version(name, version).source
    for write in (
        lambda: worker.set_registered_model_alias(name, "champion", version),
        lambda: worker.create_model_version(name, source, run_id=info.run_id),
        lambda: worker.set_model_version_tag(name, version, "gate_passed", "true"),
    ):
        with pytest.raises(MlflowException) as refused:
            write()
        assert refused.value.error_code == "PERMISSION_DENIED", refused.value
    assert [v.version for v in worker.search_model_versions(f"name='{name}'")] == [version]


def model_window(model: Any) -> Any:
    import numpy as np

    window = np.zeros(int(model.window), dtype=[("time", "<i8"), ("close", "<f8")])
    window["close"] = 1.0
    return window
