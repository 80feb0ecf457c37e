"""Outside a Prefect run, tate's tasks are their plain functions and Prefect-only features step
aside; an API that does not answer is not waited on. No server is started by any of this."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prefect import flow

from flows.plain_runs import in_run, markdown_artifact, run_flow, run_logger, subflow, task
from flows.prefect_api import api_answers


@task
def double(x: int) -> int:
    return 2 * x


@task
def runs_without_an_engine() -> bool:
    return not in_run()  # under Prefect's engine a task run context exists


@flow(name="doubled-plus-one")
def doubled_plus_one(x: int) -> int:
    run_logger().info("doubling %d", x)
    markdown_artifact(key="doubled", markdown=f"{x}", description="test")
    return double(x) + 1


def test_a_task_called_outside_a_run_is_its_plain_function() -> None:
    assert not in_run()
    assert double(4) == 8
    assert runs_without_an_engine()


def test_run_flow_without_an_api_runs_the_plain_function_with_progress_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    logger = logging.getLogger("tate")
    for name in ("handlers", "propagate", "level"):  # run_flow sets these; put them back after
        monkeypatch.setattr(logger, name, getattr(logger, name))
    logger.handlers = []
    assert run_flow(doubled_plus_one, 5) == 11
    assert subflow(doubled_plus_one, 1) == 3
    assert "doubling 5" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def healthy_url() -> Iterator[str]:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()


def test_an_api_answers_only_when_its_health_answers(healthy_url: str) -> None:
    assert api_answers(healthy_url)
    assert not api_answers(f"http://127.0.0.1:{_closed_port()}/api")
    assert not api_answers(None)
    assert not api_answers("")


def test_a_plain_runs_progress_lines_redact_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    from flows.plain_runs import logger, show_progress_on_stderr

    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers = []
    try:
        show_progress_on_stderr()
        logger.info("journal at %s", "postgresql+psycopg://tate:hunter2@db/journal")
    finally:
        logger.handlers, logger.level, logger.propagate = saved
    err = capsys.readouterr().err
    assert "postgresql+psycopg://tate:***@db/journal" in err and "hunter2" not in err
