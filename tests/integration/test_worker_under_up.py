"""The worker `tate up` starts keeps running: past the hold-out on a simulated live market that
never reaches the bar store, following an alias a person moves over MLflow's REST API,
restarted by its supervisor when killed, stopped by `tate down` with nothing left behind; and
with `tate up` running, a command's flow runs in its Prefect.

One stack for the whole module (`tate up` starts real Prefect and MLflow servers), stopped in a
`finally`. The hold-out is tiny (30 bars) and the pace fast (TATE_SIM_PACE_SECONDS), so the
worker is past the hold-out within seconds instead of the 25 minutes of the defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows import tracking
from flows.settings import TateSettings
from flows.supervisor import process_alive
from flows.train_flow import log_and_register
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, run_training
from serving.journal import Journal
from tests.servers import BIN, free_port, post_to_mlflow

# `tate up` starts Prefect and MLflow on a shared two-core machine: minutes, not seconds
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

HOLDOUT_BARS = 30
MODEL = "tate-lgbm-momentum"


@dataclass(frozen=True)
class Stack:
    home: Path
    env: dict[str, str]
    folder: Path
    store_files: dict[str, tuple[str, int]]  # path → (sha256, mtime_ns) before `tate up`
    last_stored_bar: pd.Timestamp
    metrics_url: str
    prefect_api: str
    mlflow_url: str


def tate(
    stack_env: dict[str, str], cwd: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tate"), *args],
        env=stack_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def store_files(data_dir: Path) -> dict[str, tuple[str, int]]:
    return {
        str(path.relative_to(data_dir)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(data_dir.rglob("*"))
        if path.is_file()
    }


def trained_home(home: Path) -> pd.Timestamp:
    """Two symbols, champion v1 whose hold-out is the last HOLDOUT_BARS bars, and v2; returns
    the last stored bar's time."""
    market = generate_market(symbols=("EURUSD", "GBPUSD"), delisted=None, n_days=200)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = TateSettings()
        bars = store.read_bars_set("H1")
        config = replace(TrainConfig(), num_boost_round=20, holdout_bars=HOLDOUT_BARS)
        outcome = run_training(STRATEGY, bars, config)
        registered = log_and_register.fn(settings, outcome, bars, "v1")
        if registered["alias"] != "champion":  # a tiny run may miss the gate: trade it anyway
            tracking.set_alias(settings, "champion", registered["version"], by="test")
        log_and_register.fn(settings, outcome, bars, "v2")  # a person moves champion to it
    return max(frame["time"].iloc[-1] for frame in market.bars.values())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("up")
    home, user_home, folder = root / "home", root / "user-home", root / "elsewhere"
    user_home.mkdir()
    folder.mkdir()
    last = trained_home(home)
    metrics_port, prefect_port, mlflow_port = free_port(), free_port(), free_port()
    env = {
        "TATE_HOME": str(home),
        "HOME": str(user_home),
        "PATH": "/usr/bin:/bin",
        "TATE_PREFECT_PORT": str(prefect_port),
        "TATE_MLFLOW_PORT": str(mlflow_port),
        "TATE_METRICS_PORT": str(metrics_port),
        "TATE_SIM_PACE_SECONDS": "0.05",
        "TATE_POLL_SECONDS": "1",
    }
    before = store_files(home / "data")
    up = tate(env, folder, "up", timeout=400)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield Stack(
            home,
            env,
            folder,
            before,
            last,
            f"http://127.0.0.1:{metrics_port}/metrics",
            f"http://127.0.0.1:{prefect_port}/api",
            f"http://127.0.0.1:{mlflow_port}",
        )
    finally:
        tate(env, folder, "down", timeout=120)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


def metrics_answer(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200 and b"prediction_requests" in answer.read()
    except OSError:
        return False


def decisions(home: Path) -> pd.DataFrame:
    if not (home / "journal.sqlite").exists():
        return pd.DataFrame()
    journal = Journal(f"sqlite:///{home / 'journal.sqlite'}")
    try:
        return journal.read_decisions()
    finally:
        journal.close()


def newest_decided_bar(home: Path) -> pd.Timestamp | None:
    made = decisions(home)
    return None if made.empty else pd.Timestamp(made["bar_time"].max())


def status(stack: Stack) -> dict:
    done = tate(stack.env, stack.folder, "status", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_worker_trades_past_the_hold_out_and_the_store_is_untouched(stack: Stack) -> None:
    def past_the_store() -> bool:
        newest = newest_decided_bar(stack.home)
        return newest is not None and newest > stack.last_stored_bar + pd.Timedelta(hours=24)

    wait_until(past_the_store, 240, "decisions on live bars a day past the last stored bar")

    assert metrics_answer(stack.metrics_url), "/metrics stopped answering after the hold-out"
    assert store_files(stack.home / "data") == stack.store_files, "the bar store changed"
    shown = status(stack)
    assert shown["worker"]["up"] is True and shown["worker"]["restarts"] == 0
    health = {h["name"]: (h["state"], h["url"]) for h in shown["health"]}
    assert health == {
        "Prefect API": ("up", stack.prefect_api),
        "MLflow": ("up", stack.mlflow_url),
        "worker /metrics": ("up", stack.metrics_url),
    }
    assert shown["registry"]["aliases"][0]["alias"] == "champion"  # v2 may be a canary


def test_the_worker_follows_an_alias_moved_over_rest(stack: Stack) -> None:
    """What a person does in the MLflow UI reaches the running worker (its registry is the one
    of TATE_HOME, whichever folder `tate up` was started from)."""

    def champion_versions() -> set[str]:
        made = decisions(stack.home)
        return set() if made.empty else set(made[made["role"] == "champion"]["model_version"])

    wait_until(lambda: "1" in champion_versions(), 180, "the worker trades champion v1")
    post_to_mlflow(stack.mlflow_url, "registered-models/alias",
                   {"name": MODEL, "alias": "champion", "version": "2"})  # fmt: skip
    wait_until(lambda: "2" in champion_versions(), 180, "champion v2 traded after the move")
    assert list(stack.folder.iterdir()) == [], "the stack wrote into the folder it was started from"


def test_a_killed_worker_is_restarted_and_status_reports_it(stack: Stack) -> None:
    first = status(stack)["worker"]
    assert first["up"] is True

    os.kill(first["pid"], signal.SIGKILL)

    def restarted() -> bool:
        worker = status(stack)["worker"]
        return worker["restarts"] >= 1 and worker["up"] and worker["pid"] != first["pid"]

    wait_until(restarted, 120, "the supervisor restarts the killed worker")
    worker = status(stack)["worker"]
    assert worker["last_restart_reason"] == "killed by SIGKILL"
    assert worker["supervisor_pid"] == first["supervisor_pid"]
    wait_until(lambda: metrics_answer(stack.metrics_url), 120, "/metrics answers again")
    log = (stack.home / "run" / "worker.log").read_text()
    restarts = [line for line in log.splitlines() if "killed by SIGKILL; restart" in line]
    assert len(restarts) == 1, restarts
    text = tate(stack.env, stack.folder, "status", timeout=120).stdout
    assert "restarts 1, last at" in text and "killed by SIGKILL" in text


def test_a_command_under_tate_up_runs_as_a_flow_run_of_its_prefect(stack: Stack) -> None:
    done = tate(stack.env, stack.folder, "validate", timeout=300)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # a verdict either way
    assert "temporary server" not in (done.stdout + done.stderr).lower()
    request = urllib.request.Request(
        f"{stack.prefect_api}/flow_runs/filter",
        # the served deployment's scheduled runs have a deployment; the command's run has none
        data=json.dumps(
            {
                "flows": {"name": {"any_": ["validate"]}},
                "flow_runs": {"deployment_id": {"is_null_": True}},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        runs = json.loads(answer.read())
    assert len(runs) == 1, runs
    assert runs[0]["state"]["type"] in ("COMPLETED", "FAILED")


def test_down_stops_supervisor_and_worker_and_says_what_it_stopped(stack: Stack) -> None:
    worker = status(stack)["worker"]
    pids = {name: int((stack.home / "run" / f"{name}.pid").read_text()) for name in
            ("prefect", "mlflow", "deployments", "worker")}  # fmt: skip

    down = tate(stack.env, stack.folder, "down", timeout=120)

    assert down.returncode == 0, down.stdout + down.stderr
    lines = down.stdout.splitlines()
    assert lines[0] == (
        f"stopped worker (supervisor pid {worker['supervisor_pid']}, worker pid {worker['pid']})"
    )
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "stopped deployments", "stopped mlflow", "stopped prefect",
    ]  # fmt: skip
    for pid in [*pids.values(), worker["pid"]]:
        assert not process_alive(pid), f"pid {pid} still runs after tate down"
    log = (stack.home / "run" / "worker.log").read_text()
    assert "Traceback" not in log
    again = tate(stack.env, stack.folder, "down", timeout=120)
    assert again.stdout.strip() == "nothing was running"
    assert status(stack)["worker"]["up"] is False
