"""The worker's supervisor: bounded back-off, one line per restart, a state `tate status` reads,
and a stop that leaves no child behind."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from flows.supervisor import Backoff, Supervisor, exit_reason, read_state
from flows.worker_view import format_worker, worker_status


def test_backoff_doubles_up_to_its_ceiling_and_resets_after_a_healthy_run() -> None:
    backoff = Backoff(first=1.0, ceiling=60.0, healthy_after=60.0)
    quick = [backoff.delay_after(0.5) for _ in range(8)]
    assert quick == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff.delay_after(61.0) == 1.0
    assert backoff.delay_after(0.1) == 2.0


def test_exit_reason_names_the_code_or_the_signal() -> None:
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-9) == "killed by SIGKILL"


def _wait(check: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def test_a_child_that_keeps_failing_is_restarted_with_one_line_each_and_stops_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_file = tmp_path / "worker-supervisor.json"
    fail = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor = Supervisor(fail, state_file, backoff=Backoff(first=0.01, ceiling=0.02))
    caplog.set_level(logging.INFO, logger="tate.supervisor")
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        _wait(lambda: supervisor.state.restarts >= 3, "three restarts")
    finally:
        supervisor.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
    restarts = [r.getMessage() for r in caplog.records if "restart" in r.getMessage()]
    assert restarts[0] == "worker exited with code 3; restart 1 in 0.01 s"
    assert len(restarts) == supervisor.state.restarts
    state = json.loads(state_file.read_text())
    assert state["last_restart_reason"] == "exited with code 3"
    assert state["stopped"] is True and state["worker_up"] is False


def test_a_command_that_cannot_start_is_backed_off_not_a_crash(tmp_path: Path) -> None:
    state_file = tmp_path / "worker-supervisor.json"
    missing = [str(tmp_path / "no-such-program")]
    supervisor = Supervisor(missing, state_file, backoff=Backoff(first=0.01, ceiling=0.02))
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        _wait(lambda: supervisor.state.restarts >= 2, "two restarts")
    finally:
        supervisor.stop()
        runner.join(timeout=30)
    assert supervisor.state.last_restart_reason is not None
    assert supervisor.state.last_restart_reason.startswith("could not start (")


def test_stop_ends_a_running_child_and_the_state_says_so(tmp_path: Path) -> None:
    state_file = tmp_path / "worker-supervisor.json"
    supervisor = Supervisor([sys.executable, "-c", "import time; time.sleep(600)"], state_file)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    _wait(lambda: supervisor.state.worker_up, "the child started")
    pid = supervisor.state.worker_pid
    assert pid is not None
    assert read_state(state_file, lambda p: True)["worker_up"] is True  # type: ignore[index]

    supervisor.stop()
    runner.join(timeout=30)

    assert not runner.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    state = read_state(state_file, lambda p: True)
    assert state is not None and state["worker_up"] is False and state["restarts"] == 0
    assert state["supervisor_up"] is False


def test_read_state_trusts_no_dead_process(tmp_path: Path) -> None:
    path = tmp_path / "worker-supervisor.json"
    assert read_state(path, lambda p: True) is None
    path.write_text(
        json.dumps({"supervisor_pid": 11, "worker_pid": 12, "worker_up": True, "stopped": False})
    )
    found = read_state(path, lambda p: p == 11)
    assert found is not None and found["supervisor_up"] is True and found["worker_up"] is False


def test_status_names_the_restarts_and_the_last_reason() -> None:
    state = {
        "supervisor_pid": 11, "supervisor_up": True, "worker_pid": 12, "worker_up": True,
        "restarts": 2, "last_restart_at": "2026-01-05T10:00:00+00:00",
        "last_restart_reason": "killed by SIGKILL",
    }  # fmt: skip
    shown = worker_status(state)
    assert shown is not None and shown["up"] is True and shown["restarts"] == 2
    assert format_worker(shown) == (
        "worker (tate up): up, pid 12, supervisor pid 11; restarts 2, last at "
        "2026-01-05T10:00:00+00:00: killed by SIGKILL\n"
    )
    down = format_worker(worker_status({**state, "worker_up": False}))
    assert down.startswith("worker (tate up): DOWN, its supervisor restarts it")


def test_down_stops_a_worker_whose_supervisor_was_killed_on_its_own(tmp_path: Path) -> None:
    """A supervisor killed outside `tate down` (SIGKILL, OOM) leaves its worker running: `tate
    down` still finds it, through the state file, and stops it."""
    import signal
    import subprocess

    from flows.settings import TateSettings
    from flows.stack import stop_stack
    from flows.supervisor import process_alive, state_path

    settings = TateSettings(home=tmp_path / "home")
    settings.run_dir.mkdir(parents=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "flows.supervisor", "--state", str(state_path(settings.run_dir)),
         "--", *sleeper],
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    (settings.run_dir / "worker.pid").write_text(str(supervisor.pid))
    worker = None
    try:
        _wait(lambda: state_path(settings.run_dir).exists(), "the worker started")
        worker = json.loads(state_path(settings.run_dir).read_text())["worker_pid"]
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=30)
        assert process_alive(worker), "the orphan runs on"

        lines = stop_stack(settings)

        assert lines == [f"stopped worker (worker pid {worker})"]
        assert not process_alive(worker)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        if worker is not None and process_alive(worker):
            os.kill(worker, signal.SIGKILL)
