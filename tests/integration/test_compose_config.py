"""Debian's docker-compose (1.29, what CI has) parses infra/compose.yaml with a filled env file, and
refuses it, naming the variable, with the committed example (every secret empty)."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.system import executable

INFRA = Path(__file__).resolve().parents[2] / "infra"

pytestmark = pytest.mark.integration


def compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    # a clean environment: only the env file may supply the stack's secrets
    env = {"PATH": os.environ["PATH"], "HOME": str(env_file.parent), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [
            executable("docker-compose"),
            "--env-file", str(env_file), "-f", str(INFRA / "compose.yaml"), "config",
        ],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def filled_env(tmp_path: Path) -> Path:
    key = tmp_path / "signing.key"
    key.write_text("not a key: compose only checks the file is named\n")
    lines = []
    for line in (INFRA / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name = line.split("=", 1)[0]
            value = str(key) if name == "TATE_SIGNING_KEY_FILE" else secrets.token_urlsafe(16)
            lines.append(f"{name}={value}")
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    return env_file


def test_compose_file_parses_with_every_secret_set(tmp_path: Path) -> None:
    env_file = filled_env(tmp_path)
    done = compose_config(env_file)
    assert done.returncode == 0, done.stderr
    password = dict(line.split("=", 1) for line in env_file.read_text().splitlines())[
        "MLFLOW_WORKER_PASSWORD"
    ]
    assert password in done.stdout  # interpolated from the env file, not from a default
    for service in ("postgres", "mlflow", "prefect-server", "trainer", "worker", "grafana"):
        assert f"  {service}:" in done.stdout


def test_compose_file_is_refused_while_a_secret_is_empty(tmp_path: Path) -> None:
    done = compose_config(INFRA / ".env.example")
    assert done.returncode != 0
    assert "in infra/.env" in done.stderr and "Missing mandatory value" in done.stderr
