"""infra/compose.yaml agrees with tate's own settings: every service's command, port and volume is
where flows/settings.py (and the Prometheus and Grafana files it mounts) expect it, every secret comes
from the env file with no default, and the private signing key reaches only the services that train."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.settings import TateSettings

INFRA = Path(__file__).resolve().parents[2] / "infra"
TRAINING = {"trainer", "prefect-worker"}
TATE_HOME = "/var/lib/tate"
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(INFRA / "compose.yaml")


@pytest.fixture(scope="module")
def defaults() -> TateSettings:
    return TateSettings(home=Path(TATE_HOME))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path → (source, mode) of every volume of a service."""
    found = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        found[target] = (source, mode[0] if mode else "rw")
    return found


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of every published port."""
    found = []
    for entry in service.get("ports", []):
        host, host_port, container_port = entry.split(":")
        found.append((host, int(host_port), int(container_port)))
    return found


def test_every_secret_is_required_from_the_env_file_and_listed_in_the_example(
    compose: dict[str, Any],
) -> None:
    lines = (INFRA / "compose.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    required = set(REQUIRED.findall(text))
    example = dict(
        line.split("=", 1)
        for line in (INFRA / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required == set(example), "compose.yaml's ${VAR:?} and .env.example disagree"
    assert all(value == "" for value in example.values()), "the example must not carry a secret"
    # every interpolation is required: `${VAR:-x}` or a bare `${VAR}` would let a blank or
    # missing secret through
    interpolations = re.findall(r"\$\{[^}]*\}", text)
    assert interpolations and all(REQUIRED.fullmatch(i) for i in interpolations), interpolations
    for name, service in services(compose).items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|AUTH_STRING", key) or "@" in str(value):
                assert "${" in str(value), f"{name}: {key} is a literal secret"


def test_published_ports_bind_loopback_at_the_settings_ports(
    compose: dict[str, Any], defaults: TateSettings
) -> None:
    for name, service in services(compose).items():
        for host, host_port, container_port in published(service):
            assert host == "127.0.0.1", f"{name} publishes {host_port} beyond loopback"
            assert host_port == container_port
    mlflow = services(compose)["mlflow"]
    assert published(mlflow) == [("127.0.0.1", defaults.mlflow_port, defaults.mlflow_port)]
    assert f"--port={defaults.mlflow_port}" in mlflow["command"]
    prefect = services(compose)["prefect-server"]
    assert published(prefect) == [("127.0.0.1", defaults.prefect_port, defaults.prefect_port)]
    assert prefect["command"][-2:] == ["--port", str(defaults.prefect_port)]


def test_mlflow_runs_the_basic_auth_app_with_no_permissions_by_default(
    compose: dict[str, Any],
) -> None:
    mlflow = services(compose)["mlflow"]
    command = mlflow["command"]
    assert "--app-name=basic-auth" in command
    hosts = next(arg for arg in command if arg.startswith("--allowed-hosts="))
    assert "mlflow:5000" in hosts and "*" not in hosts
    assert any(arg.startswith("--cors-allowed-origins=http") for arg in command)
    ini_path = mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"]
    source, mode = mounts(mlflow)[ini_path]
    assert mode == "ro"
    ini = (INFRA / source).read_text()
    assert "default_permission = NO_PERMISSIONS" in ini
    assert "admin_password" not in ini.replace("# admin_password", "")
    auth_db = re.search(r"database_uri = sqlite:///(/\S+)/basic_auth.db", ini)
    assert auth_db is not None and auth_db.group(1) in mounts(mlflow)


def test_the_worker_serves_metrics_where_prometheus_scrapes(
    compose: dict[str, Any], defaults: TateSettings
) -> None:
    worker = services(compose)["worker"]
    env = worker["environment"]
    assert worker["command"][:2] == ["tate", "serve"]
    assert env["TATE_METRICS_PORT"] == str(defaults.metrics_port)
    assert worker["expose"] == [str(defaults.metrics_port)] and "ports" not in worker
    # a container's loopback is its own: listening beyond it is the opted-in exception
    assert env["TATE_METRICS_HOST"] == "0.0.0.0" and env["TATE_ALLOW_REMOTE_BINDS"] == "true"
    prometheus = services(compose)["prometheus"]
    config_arg = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = Path(config_arg.split("=", 1)[1])
    source, mode = mounts(prometheus)[str(config_path.parent)]
    assert mode == "ro"
    config = load(INFRA / source / config_path.name)
    assert [c["static_configs"][0]["targets"] for c in config["scrape_configs"]] == [
        [f"worker:{defaults.metrics_port}"]
    ]
    # the same rules as the Prometheus the integration tests run
    assert config["rule_files"] == load(INFRA / "prometheus" / "prometheus.yml")["rule_files"]
    alertmanager = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == ["alertmanager:9093"]
    assert published(services(compose)["alertmanager"])[0][2] == 9093


def test_tate_services_share_tate_home_and_the_settings_agree(
    compose: dict[str, Any], defaults: TateSettings
) -> None:
    dockerfile = (INFRA / "Dockerfile").read_text()
    assert f"TATE_HOME={TATE_HOME}" in dockerfile
    fields = {f"TATE_{name.upper()}" for name in TateSettings.model_fields}
    tate_services = {
        name: s
        for name, s in services(compose).items()
        if "TATE_HOME" in (s.get("environment") or {})
    }
    assert set(tate_services) == {"trainer", "prefect-worker", "worker"}
    for name, service in tate_services.items():
        env = service["environment"]
        assert env["TATE_HOME"] == TATE_HOME
        assert mounts(service)[TATE_HOME] == ("tate-home", "rw"), name
        assert set(k for k in env if k.startswith("TATE_")) <= fields, name
        assert env["MLFLOW_TRACKING_URI"] == f"http://mlflow:{defaults.mlflow_port}"
        if "PREFECT_API_URL" in env:
            assert env["PREFECT_API_URL"] == f"http://prefect-server:{defaults.prefect_port}/api"
            assert env["PREFECT_HOME"] == str(defaults.prefect_home)


def test_only_the_training_services_hold_the_signing_key_and_the_worker_trusts_public_keys(
    compose: dict[str, Any], defaults: TateSettings
) -> None:
    keys = str(defaults.keys_dir)
    assert list(compose["secrets"]) == ["tate_signing_key"]
    for name, service in services(compose).items():
        env = service.get("environment") or {}
        if name in TRAINING:
            assert service["secrets"] == ["tate_signing_key"]
            assert env["TATE_SIGNING_KEY"] == "/run/secrets/tate_signing_key"
            # the public key is published to keys_dir, on the volume the worker reads
            assert mounts(service)[keys] == ("tate-keys", "rw")
        else:
            assert "secrets" not in service and "TATE_SIGNING_KEY" not in env, name
    worker = services(compose)["worker"]
    assert worker["environment"]["TATE_TRUSTED_KEYS"] == keys
    assert mounts(worker)[keys] == ("tate-keys", "ro")
    assert worker["environment"]["MLFLOW_TRACKING_USERNAME"] == "worker"


def test_grafana_is_provisioned_with_prometheus_and_the_generated_dashboards(
    compose: dict[str, Any],
) -> None:
    grafana = mounts(services(compose)["grafana"])
    source, mode = grafana["/etc/grafana/provisioning"]
    assert mode == "ro"
    provisioning = INFRA / source
    datasource = load(provisioning / "datasources" / "prometheus.yml")["datasources"][0]
    listen = next(
        a for a in services(compose)["prometheus"]["command"] if a.startswith("--web.listen")
    )
    assert datasource["url"] == f"http://prometheus{listen.split('=', 1)[1]}"
    dashboards_path = load(provisioning / "dashboards" / "tate.yml")["providers"][0]["options"]
    dashboards = grafana[dashboards_path["path"]]
    assert dashboards == ("./grafana/dashboards", "ro")
    assert list((INFRA / dashboards[0]).glob("*.json"))


def test_every_bind_mount_source_is_in_the_repository(compose: dict[str, Any]) -> None:
    named = set(compose["volumes"])
    for name, service in services(compose).items():
        for source, _mode in mounts(service).values():
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in named, f"{name} mounts undeclared volume {source}"


def test_the_image_copies_every_package_tate_installs_and_the_lock() -> None:
    pyproject = tomllib.loads((INFRA.parent / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    dockerfile = (INFRA / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, flags=re.MULTILINE))
    assert packages <= copied
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    ignore = (INFRA / "Dockerfile.dockerignore").read_text().splitlines()
    assert {f"!{p}/" for p in packages} <= set(ignore)
