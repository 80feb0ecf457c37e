"""`tate up` / `tate down`: the user's local stack on 127.0.0.1, each service a process we can stop.

Every service writes its log and pid under TATE_HOME/run/, so `tate down` (or a person) can find it.
Before anything starts, the ports of the services not yet running are checked: a port another
program holds is the common reason a service never comes up, and it is said in one line naming the
port and its `TATE_` variable instead of after a two-minute wait on a health check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flows.errors import StackStartError
from flows.prometheus_config import write_prometheus_config
from flows.settings import TateSettings
from flows.supervisor import process_alive, read_state, state_path

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    health_url: str | None
    started_message: str
    port: tuple[str, int] | None = None  # (its TATE_ variable, the port it listens on)
    host: str = HOST  # only the worker's may differ: TATE_METRICS_HOST, checked by the settings


def prefect_api_url(settings: TateSettings) -> str:
    return f"http://{HOST}:{settings.prefect_port}/api"


def mlflow_url(settings: TateSettings) -> str:
    return f"http://{HOST}:{settings.mlflow_port}"


def client_exports(settings: TateSettings) -> list[str]:
    """The shell lines that point Prefect's and MLflow's own CLIs (``prefect deployment ls``,
    ``mlflow runs list``) at the servers `tate up` starts, on the ports the settings chose."""
    return [
        f"export PREFECT_API_URL={prefect_api_url(settings)}",
        f"export MLFLOW_TRACKING_URI={mlflow_url(settings)}",
    ]


def services(settings: TateSettings, *, with_worker: bool) -> list[Service]:
    """What `tate up` starts, in start order."""
    bin_dir = Path(sys.executable).parent
    listed = [
        Service(
            "prefect",
            [
                str(bin_dir / "prefect"),
                "server",
                "start",
                "--host",
                HOST,
                "--port",
                str(settings.prefect_port),
            ],
            f"{prefect_api_url(settings)}/health",
            f"Prefect UI      http://{HOST}:{settings.prefect_port}",
            ("TATE_PREFECT_PORT", settings.prefect_port),
        ),
        Service(
            "mlflow",
            ["bash", str(REPO_ROOT / "mlflow" / "start-server.sh")],
            f"{mlflow_url(settings)}/health",
            f"MLflow UI       {mlflow_url(settings)}",
            ("TATE_MLFLOW_PORT", settings.mlflow_port),
        ),
        Service(
            "deployments",
            [sys.executable, "-m", "flows.deployments"],
            None,
            "deployments     validate/nightly, retrain/on-demand, drift-report/daily, "
            "canary-gate/hourly",
        ),
    ]
    if with_worker:
        listed.append(
            Service(
                "worker",
                worker_command(settings),
                f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
                f"worker metrics  http://{settings.metrics_host}:{settings.metrics_port}/metrics"
                "  (supervised; hold-out, then a simulated live market)",
                ("TATE_METRICS_PORT", settings.metrics_port),
                settings.metrics_host,
            )
        )
    return listed


def worker_command(settings: TateSettings) -> list[str]:
    """The simulated worker under its supervisor (``flows.supervisor``), which restarts it with
    back-off; after the hold-out it follows a simulated live market, so it never runs out."""
    serve = [
        str(Path(sys.executable).parent / "tate"),
        "serve",
        "--pace",
        str(settings.sim_pace_seconds),
        "--simulate-live",
    ]
    state = str(state_path(settings.run_dir))
    return [sys.executable, "-m", "flows.supervisor", "--state", state, "--", *serve]


def service_environment(settings: TateSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TATE_HOME": str(settings.home),
            "PREFECT_HOME": str(settings.prefect_home),
            "PREFECT_API_URL": prefect_api_url(settings),
            "MLFLOW_TRACKING_URI": mlflow_url(settings),
            "MLFLOW_HOST": HOST,
            "MLFLOW_PORT": str(settings.mlflow_port),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


def _pid_file(settings: TateSettings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


_alive = process_alive


def running_pid(settings: TateSettings, name: str) -> int | None:
    path = _pid_file(settings, name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def port_problem(port: int, host: str = HOST) -> str | None:
    """Why a service could not listen on ``host:port``, or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "is already in use by another program; stop it or"
            return f"cannot be used ({error.strerror});"
    return None


def check_ports(settings: TateSettings, listed: list[Service]) -> None:
    """Refuse to start when a port of a service that is not running yet is taken.

    Raises:
        StackStartError: naming the service, the port and the `TATE_` variable that sets it.
    """
    for service in listed:
        if service.port is None or running_pid(settings, service.name) is not None:
            continue
        variable, port = service.port
        problem = port_problem(port, service.host) if port else None
        if problem:
            raise StackStartError(
                f"{service.name}: port {port} on {service.host} {problem} choose another port with "
                f"{variable}"
            )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def start_service(settings: TateSettings, service: Service, env: dict[str, str]) -> str:
    pid = running_pid(settings, service.name)
    if pid is not None:
        return f"{service.started_message}  (already running, pid {pid})"
    log_path = settings.run_dir / f"{service.name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            service.command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so `down` stops its children too
        )
    _pid_file(settings, service.name).write_text(str(process.pid))
    if service.health_url and not wait_healthy(service.health_url, process, timeout_s=120):
        stop_service(settings, service.name)
        raise StackStartError(
            f"{service.name} did not become healthy; see {log_path} "
            "(a port in use or a misconfiguration is the usual cause)"
        )
    return service.started_message


def start_stack(settings: TateSettings, *, with_worker: bool = True) -> list[str]:
    """Start the stack; return the lines to print (URLs and where logs are)."""
    listed = services(settings, with_worker=with_worker)
    check_ports(settings, listed)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    env = service_environment(settings)
    lines = [start_service(settings, service, env) for service in listed]
    if settings.metrics_port:  # 0 picks a port only when the worker starts
        config = write_prometheus_config(settings)
        lines.append(f"Prometheus      prometheus --config.file={config}")
    lines.append(f"logs and pids   {settings.run_dir}")
    lines.append("stop with       tate down")
    lines.append("for Prefect's and MLflow's own CLIs:")
    lines += [f"  {line}" for line in client_exports(settings)]
    return lines


def _stop(pid: int, timeout_s: float, send: Callable[[int, int], None] = os.killpg) -> bool:
    """SIGTERM through ``send`` (``os.killpg``: the process group ``pid`` leads; ``os.kill``:
    ``pid`` alone), SIGKILL when ``pid`` outlives ``timeout_s``; False when there was no such
    process."""
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            send(pid, signal.SIGKILL)
    return True


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def stop_service(settings: TateSettings, name: str, timeout_s: float = 20.0) -> str | None:
    pid = running_pid(settings, name)
    _pid_file(settings, name).unlink(missing_ok=True)
    if pid is None or not _stop(pid, timeout_s):
        return None
    return f"stopped {name} (pid {pid})"


def stop_worker(settings: TateSettings, timeout_s: float = 20.0) -> str | None:
    """Stop the worker's supervisor and, with it, the worker (same process group). A worker left
    by a supervisor that was killed on its own is found through the supervisor's state file."""
    state = read_state(state_path(settings.run_dir), _alive) or {}
    worker_pid = state.get("worker_pid") if state.get("worker_up") else None
    supervisor = running_pid(settings, "worker")
    _pid_file(settings, "worker").unlink(missing_ok=True)
    stopped = []
    if supervisor is not None and _stop(supervisor, timeout_s):
        stopped.append(f"supervisor pid {supervisor}")
    if worker_pid is not None:
        if _alive(worker_pid) and _group_of(worker_pid) == state.get("supervisor_pid"):
            _stop(worker_pid, timeout_s, os.kill)  # an orphan: its supervisor died on its own
        stopped.append(f"worker pid {worker_pid}")
    return f"stopped worker ({', '.join(stopped)})" if stopped else None


def stop_stack(settings: TateSettings) -> list[str]:
    """Stop every service `tate up` started, the worker first so it stops trading before the
    rest; one line per service stopped, or that nothing was running."""
    stopped = [line for line in [stop_worker(settings)] if line]
    for name in ["deployments", "mlflow", "prefect"]:
        if line := stop_service(settings, name):
            stopped.append(line)
    return stopped or ["nothing was running"]
