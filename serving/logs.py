"""Logs of the worker process: one JSON object per line for machines, one short line for
people on a terminal; secrets redacted in both.

``configure_logging`` is called once by the entry point (the CLI's ``serve``, the
supervisor), never at import time (STYLE rule 3). ``log_format`` "auto" writes text when the
stream is a terminal and JSON otherwise (a log file, a pipe, a collector); "json" and "text"
force one. A JSON line carries ``time``, ``level``, ``logger`` and ``message``, plus whatever a
call passed in ``extra=``; a text line is ``HH:MM:SS LEVEL logger message key=value…`` (UTC
time, the logger's last dotted part, the same extras).

Secrets are never logged, belt and braces: settings hold them as ``SecretStr`` (which prints
as ``**********``), and the handler still redacts what slips through — any field whose name
looks like a secret (password, passwd, secret, token, api_key…), ``key=value`` fragments
with such a key inside messages, and the password of URLs written ``scheme://user:password@``
(a PostgreSQL journal URL, an MLflow URI with basic auth), tracebacks included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

REDACTED = "***"

LogFormat = Literal["auto", "json", "text"]

SECRET_KEY = re.compile(r"password|passwd|secret|token|api[_-]?key|authorization|credential", re.I)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@/\s]+)(?=@)", re.I
)
_KEY_VALUE = re.compile(
    r"(?P<head>\b[\w\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key)[\w\-]*[\"']?"
    r"\s*[=:]\s*[\"']?)(?P<secret>[^\s\"',;&\\]+)",
    re.I,
)
# the LogRecord's own attributes: never secrets, and some are not ours to rewrite
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def redact_text(text: str) -> str:
    """``text`` with URL passwords and ``secret-looking-key=value`` values replaced."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, text)
    return _KEY_VALUE.sub(lambda m: m["head"] + REDACTED, text)


def redact(key: str, value: Any) -> Any:
    """A field's value with secrets removed: all of it when ``key`` names a secret, the
    secret parts of strings, and the same inside mappings and sequences."""
    if SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(key, v) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """Rewrites a record before any handler formats it: the message (its ``%`` arguments
    merged in) and every ``extra=`` attribute."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, Mapping):
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            record.msg, record.args = redact_text(message), None
        for key in [k for k in vars(record) if k not in _RECORD_ATTRS]:
            setattr(record, key, redact(key, getattr(record, key)))
        return True


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with a last redaction pass over every field, so a
    traceback (formatted after the filters ran) cannot carry a password out either."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: redact(key, value) for key, value in log_data.items()}


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    """A stream handler writing one redacted JSON object per line."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        RedactingJsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
        )
    )
    handler.addFilter(RedactSecrets())
    return handler


class RedactingTextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger message key=value…`` with the record's extras (already redacted
    by ``RedactSecrets``), and a last redaction pass over the whole text, traceback included."""

    converter = staticmethod(time.gmtime)  # UTC, as everywhere in tate

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={_compact(value)}"
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRS and key != "trade"  # `trade` only marks a trade line
        )
        head = (
            f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} "
            f"{record.name.rsplit('.', 1)[-1]}  {record.getMessage()}"
        )
        text = f"{head}  {extras}" if extras else head
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        return redact_text(text)


def _compact(value: Any) -> str:
    """A field's value in one token: floats short, containers as compact JSON, text with
    spaces quoted."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, separators=(",", ":"))
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() for c in text) else text


def text_handler(stream: TextIO | None = None) -> logging.Handler:
    """A stream handler writing one redacted line per record, for a person at a terminal."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingTextFormatter())
    handler.addFilter(RedactSecrets())
    return handler


def writes_text(log_format: LogFormat, stream: TextIO) -> bool:
    """Whether ``log_format`` means text on ``stream``: "auto" asks whether it is a terminal."""
    if log_format != "auto":
        return log_format == "text"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
    log_format: LogFormat = "auto",
) -> None:
    """Route every logger through one handler on stderr (``stream`` in tests) at ``level``,
    text or JSON as ``log_format`` says; handlers installed earlier on the root are replaced."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    make = text_handler if writes_text(log_format, stream) else json_handler
    root.addHandler(make(stream))
    root.setLevel(level)


def configure_json_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """JSON lines whatever the stream (``configure_logging`` with ``log_format="json"``)."""
    configure_logging(level, stream, "json")
