"""Waiting on task futures with a bound, so a training run fails instead of hanging.

A Prefect future's `result()` waits forever by default. On a Dask cluster that is a real hang: a
task whose workers went away is held by the scheduler until a worker comes back, which may be
never (a loaded machine killed them, a remote cluster scaled to zero). So every wait here has two
bounds, each ending in a `TaskWaitError` that says what was waited for and where:

- the cluster has had no worker for `no_workers_seconds` (checked every `poll_seconds`);
- the whole wait passed `timeout_seconds` (generous: a bound on hangs, not a fold's budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

R = TypeVar("R")


class TaskWaitError(RuntimeError):
    """Task results did not come within a bound; the message names the tasks and the runner."""


@dataclass(frozen=True)
class WaitBound:
    timeout_seconds: float = 4 * 3600.0
    no_workers_seconds: float = 120.0
    poll_seconds: float = 2.0


DEFAULT_BOUND = WaitBound()


def cluster_workers(runner: TaskRunner[Any]) -> tuple[str, int] | None:
    """The address of the Dask scheduler behind `runner` and its live workers; None when the
    tasks run on this process's threads (they cannot go away while we wait)."""
    if isinstance(runner, ThreadPoolTaskRunner):
        return None
    from prefect_dask import DaskTaskRunner

    if not isinstance(runner, DaskTaskRunner):
        return None
    client = runner.client
    info = client.scheduler_info()  # one call to the scheduler, bounded by Dask's comm timeouts
    return str(client.scheduler.address), len(info.get("workers", {}))


def _finished(future: PrefectFuture[Any]) -> bool:
    wrapped = getattr(future, "wrapped_future", None)
    if wrapped is not None and hasattr(wrapped, "done"):
        return bool(wrapped.done())
    return future.state.is_final()


def results_within(
    futures: Sequence[PrefectFuture[R]],
    what: str,
    runner: TaskRunner[Any],
    bound: WaitBound = DEFAULT_BOUND,
    *,
    workers: Callable[[TaskRunner[Any]], tuple[str, int] | None] = cluster_workers,
    now: Callable[[], float] = time.monotonic,
) -> list[R]:
    """The futures' results in order, or `TaskWaitError` once a bound is passed.

    Args:
        what: the tasks, plural, for the error ("folds of 2 configurations").
        workers: how the cluster is looked at (tests pass a fake).
        now: the clock the bounds are measured on.
    """
    start = now()
    workerless_since: float | None = None
    for future in futures:
        while not _finished(future):
            future.wait(timeout=bound.poll_seconds)
            if _finished(future):
                break
            t = now()
            left = sum(not _finished(f) for f in futures)
            cluster = workers(runner)
            where = f"the Dask cluster at {cluster[0]}" if cluster else "this process's threads"
            if t - start >= bound.timeout_seconds:
                raise TaskWaitError(
                    f"{left} of {len(futures)} {what} not finished after "
                    f"{bound.timeout_seconds:.0f} s on {where}"
                )
            if cluster is not None and cluster[1] == 0:
                workerless_since = t if workerless_since is None else workerless_since
                if t - workerless_since >= bound.no_workers_seconds:
                    raise TaskWaitError(
                        f"{where} has had no workers for {bound.no_workers_seconds:.0f} s; "
                        f"{left} of {len(futures)} {what} cannot finish"
                    )
            else:
                workerless_since = None
    return [future.result() for future in futures]
