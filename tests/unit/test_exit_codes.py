"""The exit-code table: every class it names exists and tells the operator what to do; an
operator's mistake is one line with exit 1 or 2; anything else is a bug: traceback, exit 3."""

from __future__ import annotations

import ast
import importlib
import logging
import sys
from pathlib import Path

import pytest
import typer
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from data_contracts.store import UnknownSymbolError
from flows.cli import TateGroup
from flows.errors import (
    BAD_INPUT,
    BUG,
    EXIT_CODES,
    PREFECT_RUN_LOGGERS,
    SAID_NO,
    BadOptionError,
    GateFailedError,
    exit_code,
    quiet_operator_tracebacks,
)
from models.errors import NotEnoughBarsError


def listed_class(dotted: str) -> type[BaseException]:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("dotted", sorted(EXIT_CODES))
def test_every_listed_exception_exists_and_says_what_the_operator_does(dotted: str) -> None:
    cls = listed_class(dotted)
    assert issubclass(cls, Exception)
    assert f"{cls.__module__}.{cls.__qualname__}" == dotted, "listed under another name"
    assert "Operator action:" in (cls.__doc__ or ""), f"{dotted} does not say what to do"
    assert EXIT_CODES[dotted] in (SAID_NO, BAD_INPUT)


REPO = Path(__file__).resolve().parents[2]


def operator_exceptions() -> set[str]:
    """Dotted names of the classes in our packages whose docstring says what the operator
    does: read from the source, so no module (and no Prefect or MLflow) is imported."""
    found = set()
    for package in ("data_contracts", "models", "serving", "flows"):
        for path in sorted((REPO / package).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text())):
                doc = ast.get_docstring(node) if isinstance(node, ast.ClassDef) else None
                if doc and "Operator action:" in doc:
                    found.add(f"{module}.{node.name}")
    return found


def test_every_exception_that_names_an_operator_action_is_in_the_table() -> None:
    found = operator_exceptions()
    assert "data_contracts.store.UnknownSymbolError" in found  # the scan finds what it should
    assert found - set(EXIT_CODES) == set(), "say which exit code they mean in flows/errors.py"


@pytest.mark.parametrize(
    "error",
    [
        ValueError("could be anything"),
        KeyError("x"),
        FileNotFoundError("x"),
        LookupError("x"),
        RuntimeError("x"),
        MlflowException("Registered Model with name=x not found"),
    ],
)
def test_no_builtin_or_library_error_is_mistaken_for_bad_input(error: BaseException) -> None:
    assert exit_code(error) == BUG


def test_a_subclass_maps_like_its_listed_parent() -> None:
    class TooFewForThisStrategy(NotEnoughBarsError):
        pass

    assert exit_code(TooFewForThisStrategy("x")) == BAD_INPUT
    assert exit_code(UnknownSymbolError("EURXXX")) == BAD_INPUT
    assert exit_code(GateFailedError("no")) == SAID_NO


def failing_app(error: BaseException) -> typer.Typer:
    """An app built like `tate`'s, whose one command raises `error`."""
    app = typer.Typer(cls=TateGroup, pretty_exceptions_enable=False, rich_markup_mode=None)

    @app.command()
    def explode() -> None:
        raise error

    @app.command()
    def nothing() -> None:
        """A second command, so Typer keeps the command name on the line."""

    return app


def test_an_unexpected_exception_exits_3_with_its_traceback() -> None:
    result = CliRunner().invoke(failing_app(RuntimeError("boom")), ["explode"])
    assert result.exit_code == BUG
    assert "Traceback (most recent call last)" in result.output
    assert "RuntimeError: boom" in result.output
    assert "tate: unexpected error (a bug, exit 3)" in result.output


@pytest.mark.parametrize(
    ("error", "code"),
    [(BadOptionError("--start 'x' is not an ISO date"), 2), (GateFailedError("gate: no"), 1)],
)
def test_an_operator_error_is_one_line_without_traceback(error: Exception, code: int) -> None:
    result = CliRunner().invoke(failing_app(error), ["explode"])
    assert result.exit_code == code
    assert result.output.strip().splitlines() == [f"tate: {error}"]


def test_a_key_error_message_is_shown_without_quotes() -> None:
    error = UnknownSymbolError("no bars stored for symbol 'XAUEUR'")
    result = CliRunner().invoke(failing_app(error), ["explode"])
    assert result.output.strip() == "tate: no bars stored for symbol 'XAUEUR'"


def test_an_exit_the_command_chose_is_kept() -> None:
    result = CliRunner().invoke(failing_app(typer.Exit(5)), ["explode"])
    assert result.exit_code == 5
    assert result.output == ""


def log_record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "prefect.task_runs", logging.ERROR, __file__, 1, "failed", (), exc_info
    )


def test_prefect_logs_no_traceback_for_an_operator_error_but_keeps_a_bugs() -> None:
    quiet_operator_tracebacks()
    installed = {name: len(logging.getLogger(name).filters) for name in PREFECT_RUN_LOGGERS}
    quiet_operator_tracebacks()
    for name in PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        assert len(logger.filters) == installed[name] >= 1, "installed once, not per command"
        operator, bug = log_record(BadOptionError("bad")), log_record(RuntimeError("bug"))
        assert logger.filter(operator) and logger.filter(bug)
        assert operator.exc_info is None
        assert bug.exc_info is not None
