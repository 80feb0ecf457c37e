"""One real PostgreSQL cluster per test session, on a free loopback port, and a fresh database
per test that asks for one.

Debian's PostgreSQL refuses to run as root, so when the tests run as root the server runs as
the ``postgres`` user (``runuser``) in a folder that user owns. The cluster trusts loopback and
its socket (it lives in a private temporary folder for one session; nothing but this session's
tests can reach it), so URLs carry no password. Every wait is bounded; the cluster is stopped
and its folder removed when the session ends, however it ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port
from tests.system import executable


def pg_bin(name: str) -> str:
    """The newest installed PostgreSQL's ``name`` (initdb, pg_ctl); fails the test without one."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail("PostgreSQL is not installed; .ci/system-setup installs `postgresql`")
    return found[-1]


def as_postgres(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root: run ``command`` as the postgres user when we are root."""
    if os.geteuid() == 0:
        command = [executable("runuser"), "-u", "postgres", "--", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def own_by_postgres(folder: Path) -> None:
    """Hand ``folder`` to the postgres user (when we are root: the server runs as that user)."""
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)


@dataclass(frozen=True)
class Cluster:
    """A running cluster: where it listens, and how to make a database on it."""

    folder: Path
    port: int

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` over loopback TCP (psycopg 3)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run ``sql`` as the superuser on the maintenance database (autocommit: CREATE DATABASE)."""
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self) -> str:
        """A fresh, empty database's name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending any connection a test left open (frees the server's slots)."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_cluster() -> tuple[Cluster, dict[str, str]]:
    """initdb + pg_ctl start on a free loopback port (bounded waits); returns it and its env."""
    folder = Path(tempfile.mkdtemp(prefix="tate-pg-"))
    own_by_postgres(folder)
    data, port = folder / "data", free_port()
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "PGHOST": str(folder)}
    env["PGPORT"] = str(port)
    init = [pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"]
    done = as_postgres(init, env)
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {done.stderr}")
    options = (
        f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=200 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    log = folder / "log"
    start = [pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60"]
    done = as_postgres([*start, "start"], env)
    cluster = Cluster(folder, port)
    if done.returncode != 0:
        stop_cluster(cluster, env)
        pytest.fail(f"PostgreSQL did not start: {done.stderr}{log.read_text()}")
    return cluster, env


def stop_cluster(cluster: Cluster, env: dict[str, str]) -> None:
    """Stop the server (fast, bounded) and remove its folder."""
    data = cluster.folder / "data"
    if (data / "postmaster.pid").exists():
        stop = [pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]
        as_postgres(stop, env)
    shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """The session's one PostgreSQL cluster (started on first use, stopped at session end)."""
    cluster, env = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster, env)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A fresh, empty database on the session's cluster, dropped after the test."""
    name = postgres_cluster.new_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same journal test on a SQLite file and on a fresh PostgreSQL database (that case
    marked ``integration``: it needs the real server, so ``-m "not integration"`` leaves it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))
