"""The stack's PostgreSQL init script (infra/postgres/init-databases.sh), run as the postgres image
runs it, against a real PostgreSQL on a loopback port: each service gets its own login and database,
with the password from the env file and no other. Its own cluster (not the session's, which trusts
loopback): this one must ask passwords over TCP, as the stack's does."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import as_postgres, own_by_postgres, pg_bin
from tests.servers import free_port
from tests.system import executable

INIT = Path(__file__).resolve().parents[2] / "infra" / "postgres" / "init-databases.sh"
DATABASES = ("mlflow", "prefect", "tate")

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster() -> Iterator[dict[str, str]]:
    """A fresh cluster on a free loopback port, trusting its Unix socket (the superuser, as the
    image's init scripts use it) and asking a password over TCP; yields the socket's libpq env."""
    folder = Path(tempfile.mkdtemp(prefix="tate-pg-"))
    own_by_postgres(folder)
    data, port = folder / "data", free_port()
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "PGHOST": str(folder)}
    env["PGPORT"] = str(port)
    try:
        done = as_postgres(
            [
                pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            env,
        )
        assert done.returncode == 0, done.stderr
        options = f"-h 127.0.0.1 -p {port} -k {folder}"
        done = as_postgres(
            [pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w",
             "-t", "60", "start"],
            env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + (folder / "log").read_text()
        yield env
    finally:
        if (data / "postmaster.pid").exists():
            as_postgres([pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], env)
        shutil.rmtree(folder, ignore_errors=True)


def psql(
    env: dict[str, str], user: str, database: str, sql: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``sql`` as ``user``: over the socket, or over TCP with ``password`` when one is given."""
    if password is not None:
        env = env | {"PGHOST": "127.0.0.1", "PGPASSWORD": password}
    return subprocess.run(
        [executable("psql"), "-w", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", database, "-tAc", sql],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_each_service_gets_its_own_login_and_database(cluster: dict[str, str]) -> None:
    passwords = {name: secrets.token_urlsafe(16) for name in DATABASES}
    env = cluster | {"POSTGRES_USER": "postgres"}
    env |= {f"{name.upper()}_DB_PASSWORD": password for name, password in passwords.items()}
    done = subprocess.run(
        [executable("bash"), str(INIT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    owners = psql(
        cluster,
        "postgres",
        "postgres",
        "SELECT datname || ':' || pg_get_userbyid(datdba) FROM pg_database",
    )
    assert {f"{name}:{name}" for name in DATABASES} <= set(owners.stdout.split())
    roles = psql(
        cluster, "postgres", "postgres",
        "SELECT rolname FROM pg_authid WHERE rolpassword IS NOT NULL AND rolcanlogin",
    )  # fmt: skip
    assert set(roles.stdout.split()) == set(DATABASES)
    for name, password in passwords.items():
        stored = psql(
            cluster,
            "postgres",
            "postgres",
            f"SELECT rolpassword FROM pg_authid WHERE rolname = '{name}'",
        ).stdout.strip()
        assert stored.startswith("SCRAM-SHA-256$") and password not in stored
        # over TCP with its password: it owns its database; a wrong password is refused
        created = psql(cluster, name, name, "CREATE TABLE probe (x int)", password)
        assert created.returncode == 0, created.stderr
        who = psql(cluster, name, name, "SELECT current_user", password)
        assert who.stdout.split() == [name], who.stderr
        refused = psql(cluster, name, name, "SELECT 1", password + "x")
        assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_an_empty_password_stops_the_script_before_any_role_exists(cluster: dict[str, str]) -> None:
    env = cluster | {
        "POSTGRES_USER": "postgres",
        "MLFLOW_DB_PASSWORD": "x",
        "TATE_DB_PASSWORD": "y",
    }
    done = subprocess.run(
        [executable("bash"), str(INIT)], env=env | {"PREFECT_DB_PASSWORD": ""},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "PREFECT_DB_PASSWORD" in done.stderr
    roles = psql(cluster, "postgres", "postgres", "SELECT count(*) FROM pg_roles WHERE rolcanlogin")
    assert roles.stdout.strip() == "1"  # postgres only
