"""Real servers on loopback for integration tests: MLflow, Prefect, Prometheus. No mocks.

Each starts as a child process in its own session, with its output in a log file the failure message
points at, and is stopped (whole process group) when the fixture ends. Every wait here has a bound:
a server that never answers or never exits fails the test, naming it, instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# A SIGKILLed process is reaped at once; longer means it is stuck in the kernel.
KILLED_EXIT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 180) -> None:
    """Poll `url` until it answers 200; fail naming the log when the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}; log:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"{url} did not answer within {timeout_s} s; log:\n{log.read_text()[-3000:]}"
    )


@contextmanager
def child(
    command: list[str], env: dict[str, str], log: Path, health: str | None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if health:
            wait_for(health, process, log)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=KILLED_EXIT_SECONDS)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_command(
    command: list[str], env: dict[str, str], timeout_s: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run` with a bound that holds for what the command starts too: it runs in its own
    session, and past ``timeout_s`` (or when the test is stopped) its whole process group is
    killed and the test fails naming the command."""
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate(timeout=KILLED_EXIT_SECONDS)
        raise AssertionError(
            f"`{' '.join(command)}` did not finish within {timeout_s:.0f} s and was killed; "
            f"its output ended:\n{stdout[-2000:]}\n{stderr[-3000:]}"
        ) from None
    except BaseException:  # pytest-timeout's failure, Ctrl-C: leave no orphans behind
        _kill_group(process)
        process.wait(timeout=KILLED_EXIT_SECONDS)
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def post_to_mlflow(url: str, endpoint: str, body: dict[str, str]) -> None:
    """What the MLflow UI sends: a JSON POST to the REST API."""
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def base_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TATE_HOME"] = str(home)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@contextmanager
def mlflow_server(home: Path) -> Iterator[str]:
    """`mlflow/start-server.sh` — the same script `tate up` runs — on a free loopback port."""
    with mlflow_server_process(home) as (url, _process):
        yield url


@contextmanager
def mlflow_server_process(home: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The MLflow server and its process, for tests that kill it mid-run."""
    port = free_port()
    env = base_env(home) | {"MLFLOW_PORT": str(port), "MLFLOW_HOST": "127.0.0.1"}
    url = f"http://127.0.0.1:{port}"
    with child(
        ["bash", str(REPO_ROOT / "mlflow" / "start-server.sh")],
        env,
        home / "mlflow-server.log",
        f"{url}/health",
    ) as process:
        yield url, process


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group: a crash, not a shutdown."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=KILLED_EXIT_SECONDS)


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    port = free_port()
    env = base_env(home) | {"PREFECT_HOME": str(home / "prefect-server")}
    env.pop("PREFECT_API_URL", None)
    url = f"http://127.0.0.1:{port}/api"
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with child(command, env, home / "prefect-server.log", f"{url}/health"):
        yield url
