"""Long stages show a bar on a terminal and only an occasional plain line anywhere else."""

from __future__ import annotations

import io
import logging

from flows.progress import plan_progress, stage_progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a person's stderr does."""

    def isatty(self) -> bool:
        return True


def _recording_logger(name: str) -> tuple[logging.Logger, list[str]]:
    lines: list[str] = []
    log = logging.getLogger(name)
    log.handlers.clear()
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log, lines


def test_a_terminal_gets_a_bar_and_a_pipe_at_most_ten_lines_the_last_always() -> None:
    assert plan_progress(40, tty=True).bar
    piped = plan_progress(2005, tty=False)
    logged = [done for done in range(1, 2006) if piped.logs_at(done, 2005)]
    assert not piped.bar and len(logged) <= 11 and logged[-1] == 2005
    assert [d for d in range(1, 4) if plan_progress(3, tty=False).logs_at(d, 3)] == [1, 2, 3]
    unknown = plan_progress(None, tty=False)  # a live terminal: no total to count towards
    assert not any(unknown.logs_at(d, None) for d in range(1, 1000))


def test_without_a_terminal_progress_is_plain_log_lines_and_no_control_characters() -> None:
    log, lines = _recording_logger("tests.progress.plain")
    out = io.StringIO()
    with stage_progress("replay", 40, log=log, unit="bars", stream=out) as advance:
        for _ in range(40):
            advance()
    assert out.getvalue() == ""
    assert lines[-1] == "replay: 40/40 bars" and len(lines) == 10
    assert not any("\x1b" in line or "\r" in line for line in lines)


def test_on_a_terminal_a_bar_counts_to_the_total_and_log_lines_scroll_above_it() -> None:
    log, lines = _recording_logger("tests.progress.bar")
    out = Terminal()
    worker = logging.getLogger("tests.progress.worker")
    worker.handlers.clear()
    worker.addHandler(logging.StreamHandler(out))
    worker.propagate = False
    with stage_progress("ingest", 3, log=log, unit="symbols", stream=out) as advance:
        for symbol in ("EURUSD", "GBPUSD", "USDJPY"):
            worker.warning("wrote %s", symbol)
            advance(detail=symbol)
    shown = out.getvalue()
    assert "3/3" in shown and "ingest USDJPY" in shown and "\x1b[" in shown
    assert "wrote GBPUSD\n" in shown  # whole, not torn by a redraw
    assert lines == []  # the bar says it; no plain line too
    assert worker.handlers[0].stream is out  # type: ignore[attr-defined]
