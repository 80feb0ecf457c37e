"""The supervised worker of `tate up` as `tate status` shows it: up or down, restarts, why.

Pure: built from the supervisor's state (``flows.supervisor.read_state``), no process touched.
"""

from __future__ import annotations

from typing import Any


def worker_status(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a script reads under ``worker`` in `tate status --json` (None: `tate up` never
    started a worker on this home)."""
    if state is None:
        return None
    return {
        "up": bool(state.get("worker_up")),
        "pid": state.get("worker_pid") if state.get("worker_up") else None,
        "supervisor_up": bool(state.get("supervisor_up")),
        "supervisor_pid": state.get("supervisor_pid"),
        "restarts": int(state.get("restarts", 0)),
        "last_restart_at": state.get("last_restart_at"),
        "last_restart_reason": state.get("last_restart_reason"),
    }


def format_worker(status: dict[str, Any] | None) -> str:
    """One or two lines: the worker up or down (and since when it was restarted, and why)."""
    if status is None:
        return "worker (tate up): not started on this home\n"
    if status["up"]:
        head = (
            f"worker (tate up): up, pid {status['pid']}, supervisor pid {status['supervisor_pid']}"
        )
    elif status["supervisor_up"]:
        head = "worker (tate up): DOWN, its supervisor restarts it (see run/worker.log)"
    else:
        head = "worker (tate up): DOWN, no supervisor runs (start it with `tate up`)"
    line = f"{head}; restarts {status['restarts']}"
    if status["restarts"]:
        line += f", last at {status['last_restart_at']}: {status['last_restart_reason']}"
    return line + "\n"
