"""Progress of long stages (ingest, walk-forward folds, the worker's replay) for a person waiting.

On a terminal a `rich` bar on stderr (done / total, rate, time left), redrawn in place; anywhere
else (a pipe, a log file, a Prefect worker) a plain log line now and then, never a control
character: a log file full of redraws is worse than silence. `plan_progress` decides which,
from the facts only (pure); `stage_progress` draws or logs it.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

LOG_LINES = 10
"""Plain log lines a stage writes at most when stderr is not a terminal (about every 10%)."""

Advance = Callable[..., None]
"""``advance(n=1, detail="")``: ``n`` more units done; ``detail`` says what the last one was."""


@dataclass(frozen=True)
class ProgressPlan:
    """What a stage shows: a live bar, or a log line every ``log_every`` units (0: never)."""

    bar: bool
    log_every: int

    def logs_at(self, done: int, total: int | None) -> bool:
        """True when the unit count ``done`` earns a plain log line (the last one always)."""
        if self.bar or self.log_every <= 0 or done <= 0:
            return False
        return done % self.log_every == 0 or (total is not None and done == total)


def plan_progress(total: int | None, *, tty: bool, lines: int = LOG_LINES) -> ProgressPlan:
    """A bar on a terminal; else at most ``lines`` log lines over ``total`` units.

    Args:
        total: units of work (bars, folds, symbols), None when unknown (a live terminal).
        tty: whether stderr is a terminal.
        lines: the most plain lines a known total may earn.
    """
    if tty:
        return ProgressPlan(bar=True, log_every=0)
    if total is None or total <= 0:
        return ProgressPlan(bar=False, log_every=0)
    return ProgressPlan(bar=False, log_every=max(1, math.ceil(total / lines)))


def is_terminal(stream: IO[str]) -> bool:
    """``stream.isatty()``, False for streams without one (pytest's captures, StringIO)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def stage_progress(
    label: str,
    total: int | None,
    *,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    unit: str = "",
    stream: IO[str] | None = None,
) -> Iterator[Advance]:
    """Yield ``advance(n=1, detail="")`` to call as units finish; shows progress as
    ``plan_progress`` says (``detail`` joins the bar's label or the plain line).

    Args:
        label: what the stage is ("replay", "training folds").
        total: units expected, None when unknown.
        log: where the plain lines go when there is no terminal.
        unit: the units' name for the plain lines ("bars").
        stream: the terminal to draw on (default: stderr).
    """
    out = stream if stream is not None else sys.stderr
    plan = plan_progress(total, tty=is_terminal(out))
    done = 0
    if not plan.bar:

        def note(n: int = 1, detail: str = "") -> None:
            nonlocal done
            for _ in range(n):
                done += 1
                if plan.logs_at(done, total):
                    shown = f"{done}/{total if total else '?'} {unit}".rstrip()
                    log.info("%s: %s%s", label, shown, f" ({detail})" if detail else "")

        yield note
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=out, force_terminal=True)
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, redirect_stderr=False) as progress:
        task = progress.add_task(label, total=total)

        def draw(n: int = 1, detail: str = "") -> None:
            if detail:
                progress.update(task, description=f"{label} {detail}")
            progress.advance(task, n)

        with _log_lines_above(out, progress.console):
            yield draw


class _ConsoleStream:
    """A text stream whose lines rich prints above its live bar instead of through it."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def write(self, text: str) -> int:
        self.console.out(text, end="", highlight=False)
        return len(text)

    def flush(self) -> None:
        self.console.file.flush()


@contextmanager
def _log_lines_above(out: IO[str], console: Any) -> Iterator[None]:
    """Log handlers writing to ``out`` write through ``console`` while the bar is drawn, so a
    log line scrolls above the bar instead of being torn by its redraw; restored after."""
    loggers = [logging.root, *logging.root.manager.loggerDict.values()]
    handlers = [
        h
        for found in loggers
        if isinstance(found, logging.Logger)
        for h in found.handlers
        if isinstance(h, logging.StreamHandler) and h.stream is out
    ]
    for handler in handlers:
        handler.setStream(_ConsoleStream(console))  # type: ignore[arg-type]
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(out)
