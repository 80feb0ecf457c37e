"""Worker logs are one JSON object per line for machines, a short line for a person at a
terminal, and secrets reach neither."""

from __future__ import annotations

import io
import json
import logging

import pytest

from serving.logs import (
    configure_json_logging,
    configure_logging,
    json_handler,
    redact_text,
    text_handler,
)


@pytest.fixture
def logged() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger("tate.test_logs")
    logger.handlers, logger.propagate = [json_handler(stream)], False
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.handlers, logger.propagate = [], True


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_json_with_time_level_logger_message_and_extras(logged) -> None:  # type: ignore[no-untyped-def]
    logger, stream = logged
    logger.info("decided %s on %s", "buy", "EURUSD", extra={"role": "champion", "lots": 0.3})
    (line,) = _lines(stream)
    assert line["message"] == "decided buy on EURUSD" and line["level"] == "INFO"
    assert line["logger"] == "tate.test_logs" and line["time"].endswith("+00:00")
    assert line["role"] == "champion" and line["lots"] == 0.3


def test_passwords_in_extra_and_in_urls_are_redacted(logged) -> None:  # type: ignore[no-untyped-def]
    logger, stream = logged
    logger.info(
        "journal at %s",
        "postgresql://tate:hunter2@db:5432/journal",
        extra={"password": "hunter2", "settings": {"api_key": "k-123", "port": 5432}},
    )
    logger.warning("login failed: password=hunter2 token: abc.def")
    try:
        raise ConnectionError("cannot reach https://bob:s3cr3t@mlflow:5000/api")
    except ConnectionError:
        logger.exception("registry unreachable")
    text = stream.getvalue()
    assert "hunter2" not in text and "k-123" not in text and "s3cr3t" not in text
    assert "abc.def" not in text
    first, second, third = _lines(stream)
    assert first["message"] == "journal at postgresql://tate:***@db:5432/journal"
    assert first["password"] == "***" and first["settings"] == {"api_key": "***", "port": 5432}
    assert second["message"] == "login failed: password=*** token: ***"
    assert "https://bob:***@mlflow:5000/api" in third["exc_info"]


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "EURUSD champion filled 0.3 lots at 1.08412 via http://mlflow:5000/api (user: ops)"
    assert redact_text(text) == text


def test_configure_json_logging_routes_the_root_logger_through_one_json_handler() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        configure_json_logging("WARNING", stream)
        logging.getLogger("serving.worker").warning("tripped", extra={"token": "t0k"})
        logging.getLogger("serving.worker").info("not shown")
        (line,) = _lines(stream)
        assert line["token"] == "***" and len(root.handlers) == 1
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in a person's shell."""

    def isatty(self) -> bool:
        return True


def _configured(stream: io.StringIO, log_format: str) -> str:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", stream, log_format)  # type: ignore[arg-type]
        logging.getLogger("serving.worker").info(
            "trade champion EURUSD buy 0.3 lots at 1.08412",
            extra={"trade": True, "symbol": "EURUSD", "role": "champion", "price": 1.08412},
        )
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    return stream.getvalue()


def test_auto_writes_text_on_a_terminal_and_json_elsewhere_unless_told() -> None:
    text = _configured(Terminal(), "auto")
    assert not text.startswith("{")
    assert "INFO    worker  trade champion EURUSD buy 0.3 lots at 1.08412" in text
    assert text.rstrip().endswith("symbol=EURUSD role=champion price=1.08412")
    assert json.loads(_configured(io.StringIO(), "auto"))["symbol"] == "EURUSD"
    assert json.loads(_configured(Terminal(), "json"))["role"] == "champion"
    assert not _configured(io.StringIO(), "text").startswith("{")


def test_text_lines_redact_secrets_in_messages_extras_and_tracebacks() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tate.test_logs_text")
    logger.handlers, logger.propagate = [text_handler(stream)], False
    logger.setLevel(logging.INFO)
    try:
        logger.info(
            "journal at %s",
            "postgresql://tate:hunter2@db:5432/journal",
            extra={"password": "hunter2", "settings": {"api_key": "k-123", "port": 5432}},
        )
        logger.warning("login failed: password=hunter2 token: abc.def")
        try:
            raise ConnectionError("cannot reach https://bob:s3cr3t@mlflow:5000/api")
        except ConnectionError:
            logger.exception("registry unreachable")
    finally:
        logger.handlers, logger.propagate = [], True
    text = stream.getvalue()
    for secret in ("hunter2", "k-123", "s3cr3t", "abc.def"):
        assert secret not in text
    first = text.splitlines()[0]
    assert "journal at postgresql://tate:***@db:5432/journal" in first
    assert 'password=*** settings={"api_key":"***","port":5432}' in first
    assert "https://bob:***@mlflow:5000/api" in text and "Traceback" in text
