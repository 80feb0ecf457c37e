"""Waits on task futures end: in results when the tasks finish, in an error naming the cluster when
it has had no workers for the grace period, and in an error naming what is left at the deadline.
A fake clock and fake futures: nothing here sleeps."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from flows.bounded_waits import TaskWaitError, WaitBound, cluster_workers, results_within

BOUND = WaitBound(timeout_seconds=600, no_workers_seconds=60, poll_seconds=2)
SCHEDULER = "tcp://127.0.0.1:8786"


@dataclass
class Clock:
    t: float = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Done:
    """The wrapped future's face the waiter looks at."""

    at: float | None
    clock: Clock

    def done(self) -> bool:
        return self.at is not None and self.clock.t >= self.at


@dataclass
class FakeFuture:
    """Finishes at clock time ``at`` (never when None); ``wait`` lets the fake time pass."""

    value: int
    at: float | None
    clock: Clock
    waits: list[float] = field(default_factory=list)

    @property
    def wrapped_future(self) -> Done:
        return Done(self.at, self.clock)

    def wait(self, timeout: float | None = None) -> None:
        assert timeout is not None, "an unbounded wait"
        self.waits.append(timeout)
        self.clock.t += timeout

    def result(self) -> int:
        assert self.wrapped_future.done(), "result() before the task finished would block"
        return self.value


def cluster(counts: list[int]):  # type: ignore[no-untyped-def]
    """A cluster whose worker count follows ``counts``, one per look, then stays at the last."""
    looks = iter(counts)
    last = [counts[-1]]

    def workers(_runner: object) -> tuple[str, int]:
        last[0] = next(looks, last[0])
        return SCHEDULER, last[0]

    return workers


def wait_for(futures: list[FakeFuture], clock: Clock, workers) -> list[int]:  # type: ignore[no-untyped-def]
    return results_within(
        futures,  # type: ignore[arg-type]
        "folds",
        ThreadPoolTaskRunner(max_workers=1),
        BOUND,
        workers=workers,
        now=clock,
    )


def test_results_come_in_submission_order_once_every_task_finished() -> None:
    clock = Clock()
    futures = [FakeFuture(1, 30, clock), FakeFuture(2, 4, clock), FakeFuture(3, 90, clock)]
    assert wait_for(futures, clock, cluster([2])) == [1, 2, 3]
    assert all(w == BOUND.poll_seconds for f in futures for w in f.waits)


def test_a_cluster_without_workers_for_the_grace_period_fails_naming_the_scheduler() -> None:
    clock = Clock()
    futures = [FakeFuture(1, 4, clock), FakeFuture(2, None, clock)]
    with pytest.raises(TaskWaitError, match="no workers for 60 s; 1 of 2 folds cannot finish") as e:
        wait_for(futures, clock, cluster([2, 2, 0]))
    assert SCHEDULER in str(e.value)
    assert clock.t < BOUND.timeout_seconds


def test_workers_coming_back_within_the_grace_period_keep_the_wait_going() -> None:
    clock = Clock()
    counts = [0] * 20 + [1] + [0] * 20 + [2]  # 40 s without, back, 40 s without, back
    futures = [FakeFuture(7, 200, clock)]
    assert wait_for(futures, clock, cluster(counts)) == [7]


def test_a_wait_past_the_deadline_fails_naming_what_is_left() -> None:
    clock = Clock()
    futures = [FakeFuture(1, 10, clock), FakeFuture(2, None, clock), FakeFuture(3, None, clock)]
    with pytest.raises(TaskWaitError, match="2 of 3 folds not finished after 600 s on the Dask"):
        wait_for(futures, clock, cluster([2]))


def test_tasks_on_this_process_threads_have_no_cluster_to_lose() -> None:
    assert cluster_workers(ThreadPoolTaskRunner(max_workers=1)) is None
