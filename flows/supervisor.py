"""The worker's supervisor under `tate up`: start it, and start it again whenever it stops.

`tate up` returns once the stack answers, so nothing would notice a worker that crashed, was
killed or ran out of bars. This small process is what `tate up` starts in the worker's place
(its pid file is the worker's, so `tate down` stops it, and the worker with it: they share a
process group). It runs the worker as its child, waits for it without polling, and when the
child exits for any reason but a stop, logs one line with the reason and starts it again after
a back-off: 1 s, doubling up to 60 s, back to 1 s after a run of a healthy minute. What it saw
(restarts, the last one's reason, whether the worker is up) is kept in a small JSON file that
`tate status` reads.

Run as ``python -m flows.supervisor --state FILE -- COMMAND...``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

logger = logging.getLogger("tate.supervisor")

STATE_FILE = "worker-supervisor.json"
STOP_GRACE_SECONDS = 15.0


@dataclass
class Backoff:
    """How long to wait before the next restart: doubling from ``first`` to ``ceiling``, and
    ``first`` again after a run of at least ``healthy_after`` seconds. Pure: the caller says
    how long the child ran."""

    first: float = 1.0
    ceiling: float = 60.0
    healthy_after: float = 60.0
    _next: float = 0.0

    def delay_after(self, ran_seconds: float) -> float:
        """The wait before restarting a child that ran ``ran_seconds``."""
        if ran_seconds >= self.healthy_after or self._next <= 0:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.ceiling)
        return delay


def exit_reason(returncode: int) -> str:
    """A child's end in words: its exit code, or the signal that ended it."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with code {returncode}"


@dataclass
class SupervisorState:
    """What `tate status` shows of the worker (JSON in the run folder)."""

    supervisor_pid: int
    started_at: str
    worker_pid: int | None = None
    worker_up: bool = False
    restarts: int = 0
    last_restart_at: str | None = None
    last_restart_reason: str | None = None
    last_exit_code: int | None = None
    stopped: bool = False


def process_alive(pid: int) -> bool:
    """The process runs (a zombie, ended but not yet reaped by its parent, does not: services
    `tate up` left behind are reparented to an init that may never reap them)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def write_state(path: Path, state: SupervisorState) -> None:
    """Replace the state file in one rename, so a reader never sees half of it."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps(asdict(state), indent=2))
    part.replace(path)


def read_state(path: Path, alive: Callable[[int], bool]) -> dict[str, Any] | None:
    """The supervisor's last state, corrected by whether its processes still live (a
    supervisor killed outside `tate down` cannot say so itself); None when there is none."""
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    found["supervisor_up"] = not found.get("stopped") and alive(int(found["supervisor_pid"]))
    pid = found.get("worker_pid")
    found["worker_up"] = bool(found.get("worker_up") and pid and alive(int(pid)))
    return found


class Supervisor:
    """Runs ``command`` until ``stop()``, restarting it with ``backoff`` whenever it exits."""

    def __init__(
        self,
        command: Sequence[str],
        state_file: Path,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command, self.state_file = list(command), state_file
        self.backoff, self.clock = backoff or Backoff(), clock
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self.state = SupervisorState(os.getpid(), datetime.now(UTC).isoformat())

    def stop(self, *_: Any) -> None:
        """Stop restarting and ask the child to end (a signal handler: no logging here)."""
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        """Start, wait, restart; return 0 once stopped."""
        while not self._stopping.is_set():
            started = self.clock()
            code, reason = self._run_once()
            self.state.worker_up, self.state.last_exit_code = False, code
            if self._stopping.is_set():
                break
            delay = self.backoff.delay_after(self.clock() - started)
            self.state.restarts += 1
            self.state.last_restart_at = datetime.now(UTC).isoformat()
            self.state.last_restart_reason = reason
            write_state(self.state_file, self.state)
            logger.warning(
                "worker %s; restart %d in %g s",
                reason,
                self.state.restarts,
                delay,
                extra={"exit_code": code, "restarts": self.state.restarts, "delay_s": delay},
            )
            self._stopping.wait(delay)
        self._finish()
        return 0

    def _run_once(self) -> tuple[int | None, str]:
        """Start the child and wait for its end: (exit code, reason in words); a command that
        cannot start at all is a reason to back off too, not a crash of the supervisor."""
        try:
            self._child = child = subprocess.Popen(self.command)
        except OSError as error:
            return None, f"could not start ({error.strerror or error})"
        if self._stopping.is_set():  # a stop between the loop's check and the start
            child.send_signal(signal.SIGTERM)
        self.state.worker_pid, self.state.worker_up = child.pid, True
        write_state(self.state_file, self.state)
        logger.info("worker started (pid %d)", child.pid)
        code = child.wait()
        return code, exit_reason(code)

    def _finish(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            try:
                child.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.state.worker_up, self.state.stopped = False, True
        write_state(self.state_file, self.state)
        logger.info("supervisor stopped; the worker is stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.supervisor")
    parser.add_argument("--state", type=Path, required=True, help="the state file to keep")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the worker's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to supervise")
    from serving.logs import configure_json_logging

    configure_json_logging(logging.INFO)
    supervisor = Supervisor(command, args.state)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        supervisor.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
