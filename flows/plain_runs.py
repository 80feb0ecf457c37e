"""Flows and tasks that run as plain functions when no Prefect API answers.

Without an API, Prefect 3 starts a temporary server for every flow and every task called outside
a flow run. tate's commands would then wait 7-30 s before doing a second of work. So:

- `run_flow` calls the flow normally when a Prefect API answers (the run shows in its UI), else
  the function the flow wraps (`flow.fn`), with no engine and no server;
- `task` is Prefect's decorator whose call runs the plain function when there is no flow or task
  run around it (inside a real flow run it is a Prefect task as before, `.submit` included);
- `run_logger` and `markdown_artifact` degrade to the stdlib logger and to nothing outside a run
  (every decision is also written under `reports/`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from prefect import Flow, Task, get_run_logger
from prefect.context import FlowRunContext, TaskRunContext

from flows.prefect_api import api_answers

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("tate")


def in_run() -> bool:
    """True inside a Prefect flow or task run (an engine and an API are there)."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class PlainOutsideRuns(Task[P, R]):
    """A Prefect task that is its plain function when called outside any run."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not in_run():
            return self.fn(*args, **kwargs)
        return super().__call__(*args, **kwargs)


@overload
def task(fn: Callable[P, R], /) -> PlainOutsideRuns[P, R]: ...


@overload
def task(
    *, name: str | None = None, cache_policy: Any = None
) -> Callable[[Callable[P, R]], PlainOutsideRuns[P, R]]: ...


def task(fn: Any = None, /, *, name: str | None = None, cache_policy: Any = None) -> Any:
    """`prefect.task` for tate's flows (see the module docstring), with the options tate uses."""
    options: dict[str, Any] = {"name": name}
    if cache_policy is not None:
        options["cache_policy"] = cache_policy

    def decorate(function: Callable[P, R]) -> PlainOutsideRuns[P, R]:
        return PlainOutsideRuns(function, **options)

    return decorate if fn is None else decorate(fn)


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a run (its lines reach the UI), else tate's stdlib logger."""
    return get_run_logger() if in_run() else logger  # type: ignore[return-value]


def markdown_artifact(key: str, markdown: str, description: str) -> None:
    """A Prefect markdown artifact inside a run; outside one, nothing (the report files hold it)."""
    if not in_run():
        return
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=key, markdown=markdown, description=description)


def show_progress_on_stderr() -> None:
    """INFO lines of tate's logger on stderr, once, unless something already set a handler on it.

    Its own handler, not the root's: Prefect puts its console handler on the root at WARNING."""
    if logger.handlers:
        return
    from serving.logs import RedactSecrets

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactSecrets())  # the worker's redaction: a journal URL's password too
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_flow(flow: Flow[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """The flow as a real run when a Prefect API answers, else its plain function.

    The API is `PREFECT_API_URL` (the user's, or `tate up`'s adopted by the CLI); one that does
    not answer within `ANSWER_WITHIN_S` is said once and skipped, never waited on per task.
    """
    url = os.environ.get("PREFECT_API_URL")
    if api_answers(url):
        return flow(*args, **kwargs)
    if url:
        logger.warning("Prefect API %s does not answer; running %s without it", url, flow.name)
    show_progress_on_stderr()
    return flow.fn(*args, **kwargs)


def subflow(flow: Flow[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """A flow called from another: a child run inside a run, the plain function outside one."""
    return flow(*args, **kwargs) if in_run() else flow.fn(*args, **kwargs)
