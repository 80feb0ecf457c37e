"""`tate`: the one command line. Exit codes: 0 ok, 1 a check or gate said no, 2 bad input or config.

Flow modules import Prefect, which reads its settings at import time, so every command first builds the
settings and points the ecosystem at TATE_HOME, then imports what it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from flows.environment import prepare_environment
from flows.settings import TateSettings

app = typer.Typer(
    help="tate: the shield for ML trading models on MetaTrader 5.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"tate: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> TateSettings:
    try:
        settings = TateSettings()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        _fail(2, f"bad setting TATE_{field.upper()}: {first['msg']}")
    prepare_environment(settings)
    return settings


def _run(call: Callable[[], Any]) -> Any:
    """Run a command body and map tate's errors to exit codes with one line naming what failed."""
    from flows.errors import check_failures, input_errors

    try:
        return call()
    except check_failures() as error:
        _fail(1, str(error))
    except input_errors() as error:
        # KeyError's str() wraps its message in quotes; its first argument is the message.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        _fail(2, str(message))


@app.command()
def demo() -> None:
    """The main job on embedded defaults: data → validate → train → serve → drift, then where it all is."""
    _settings()
    from flows.demo import run_demo

    _run(run_demo)


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Option(help="sim (synthetic market), csv (MT5 export), mt5 or mt5linux (terminal)"),
    ] = "sim",
    path: Annotated[Path | None, typer.Option(help="MT5 'Export bars' file (csv source)")] = None,
    symbol: Annotated[str | None, typer.Option(help="symbol the file holds (csv source)")] = None,
    start: Annotated[
        str | None,
        typer.Option(help="terminal sources: first bar (UTC) of a symbol not yet stored"),
    ] = None,
) -> None:
    """Put bars into the store under TATE_HOME/data (never editing what is there)."""
    _settings()
    from flows.data_flows import ingest as ingest_flow

    written = _run(
        lambda: ingest_flow(
            source=source, path=str(path) if path else None, symbol=symbol, start=start
        )
    )
    for name, rows in written.items():
        typer.echo(f"{name}: {rows} bars")


@app.command()
def validate(
    symbol: Annotated[
        list[str] | None, typer.Option(help="symbols to check (default: all)")
    ] = None,
) -> None:
    """Run the data contracts; quarantine bad rows; exit 1 when the data set is blocked."""
    _settings()
    from flows.data_flows import validate as validate_flow

    result = _run(lambda: validate_flow(symbols=symbol or None))
    if result["failures"]:
        typer.echo(result["failures"])
    typer.echo(
        f"verdict {result['result_id']}: usable for training"
        f" ({result['quarantined']} quarantined ranges are left out)\n"
        f"Data Docs:  {result['data_docs']}\nsummary:    {result['summary']}\n"
        f"quarantine: {result['quarantine']}"
    )


@app.command()
def train(
    symbol: Annotated[list[str] | None, typer.Option(help="symbols (default: all stored)")] = None,
    start: Annotated[str | None, typer.Option(help="first bar, ISO date (UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="last bar, ISO date (UTC)")] = None,
    num_boost_round: Annotated[int | None, typer.Option(help="LightGBM rounds")] = None,
    shuffle_labels: Annotated[bool, typer.Option(help="control run on shuffled labels")] = False,
    sweep: Annotated[
        str | None,
        typer.Option(
            help="configurations to try, JSON list of LightGBM overrides, e.g. "
            '\'[{"num_leaves": 7}, {"num_leaves": 31}]\'; the best OOF Sharpe is registered, '
            "PBO and the deflated Sharpe count every one"
        ),
    ] = None,
    leak_canary: Annotated[
        bool, typer.Option(help="also train with a planted future-return feature; report the jump")
    ] = False,
    parallel_folds: Annotated[
        bool, typer.Option(help="fit folds on a local Dask cluster (2 workers × 1 thread)")
    ] = False,
    dask_address: Annotated[
        str | None, typer.Option(help="fit folds on this Dask scheduler, e.g. tcp://host:8786")
    ] = None,
) -> None:
    """Retrain, log one MLflow run, register a version; the gate decides whether it becomes canary."""
    _settings()
    from flows.train_flow import retrain

    configurations = _json_list(sweep, "--sweep") if sweep else None
    result = _run(
        lambda: retrain(
            symbols=symbol or None,
            start=start,
            end=end,
            num_boost_round=num_boost_round,
            shuffle_labels=shuffle_labels,
            sweep=configurations,
            leak_canary=leak_canary,
            parallel_folds=parallel_folds,
            dask_address=dask_address,
        )
    )
    typer.echo(
        f"version {result['version']} (run {result['run_id']}): alias {result['alias'] or 'none'}; "
        f"gate {'passed' if result['gate_passed'] else 'failed'}: {'; '.join(result['gate_reasons'])}"
    )


def _json_list(text: str, option: str) -> list[dict[str, Any]]:
    """A JSON list of objects from the command line, or exit 2 naming the option."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        _fail(2, f"{option}: not JSON ({error.msg} at column {error.colno})")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        _fail(2, f"{option}: expected a JSON list of objects, got {text!r}")
    return value


@app.command()
def promote(
    version: Annotated[
        str | None, typer.Option(help="version to make champion (default: canary)")
    ] = None,
) -> None:
    """Make the canary (or a named version) the champion, as a person would in the MLflow UI."""
    settings = _settings()
    from flows import tracking

    def move() -> str:
        if version is None:
            return tracking.promote_canary(settings, by="cli")
        previous = tracking.alias_version(settings, tracking.CHAMPION)
        tracking.set_alias(settings, tracking.CHAMPION, version, by="cli")
        if previous is not None:
            tracking.client(settings).set_model_version_tag(
                settings.model_name, version, "previous_champion", previous.version
            )
        return version

    typer.echo(f"champion -> version {_run(move)}")


@app.command()
def rollback(
    to_version: Annotated[str | None, typer.Option(help="version to return to")] = None,
) -> None:
    """Point champion back at the version it replaced."""
    settings = _settings()
    from flows import tracking

    typer.echo(
        f"champion -> version "
        f"{_run(lambda: tracking.rollback_champion(settings, by='cli', to_version=to_version))}"
    )


@app.command()
def serve(
    terminal: Annotated[str, typer.Option(help="sim, mt5 or mt5linux")] = "sim",
    bars: Annotated[int | None, typer.Option(help="stop after this many closed bars")] = None,
    pace: Annotated[float, typer.Option(help="seconds between replayed bars (sim)")] = 0.0,
    metrics_port: Annotated[int | None, typer.Option(help="port of /metrics")] = None,
    start: Annotated[
        str | None, typer.Option(help="sim: replay from this UTC time instead of the hold-out")
    ] = None,
) -> None:
    """Trade `champion` and `canary` through the MT5 adapter (SimTerminal replays the hold-out).

    Logs are JSON lines on stderr (secrets redacted); the summary goes to stdout.
    """
    settings = _settings()
    from flows.serve import run_worker
    from flows.times import utc_time
    from serving.logs import configure_json_logging

    configure_json_logging(settings.log_level.upper())

    summary = _run(
        lambda: run_worker(
            settings,
            terminal=terminal,
            max_bars=bars,
            pace_seconds=pace,
            metrics_port=metrics_port,
            start=utc_time(start, "--start") if start else None,
        )
    )
    typer.echo(summary)


@app.command("reset-breaker")
def reset_breaker(
    name: Annotated[str, typer.Argument(help="breaker to reset (see the journal or /metrics)")],
    by: Annotated[str, typer.Option(help="who decided trading may resume")],
    note: Annotated[str, typer.Option(help="why")] = "",
) -> None:
    """Ask the running (or next) worker to reset a tripped circuit breaker; it journals the reset."""
    settings = _settings()
    from datetime import UTC, datetime

    from serving.journal import Journal
    from serving.safety import BREAKER_NAMES

    if name not in BREAKER_NAMES:
        _fail(2, f"unknown breaker {name!r}: expected one of {', '.join(BREAKER_NAMES)}")
    journal = Journal(settings.journal)
    try:
        journal.request_breaker_reset(name, by=by, at=datetime.now(UTC), note=note)
    finally:
        journal.close()
    typer.echo(f"reset of {name} requested by {by}; the worker applies it before its next bar")


@app.command()
def drift(
    role: Annotated[str, typer.Option(help="alias whose version to check")] = "champion",
    version: Annotated[
        str | None, typer.Option(help="explicit version instead of the alias")
    ] = None,
) -> None:
    """Evidently HTML report + PSI/KS/Wasserstein of journaled features against training features."""
    _settings()
    from flows.drift_flow import drift_report

    result = _run(lambda: drift_report(role=role, version=version))
    typer.echo(f"drift {'FLAGGED' if result['drifted'] else 'none'}\nreport: {result['report']}")


@app.command()
def up(
    worker: Annotated[bool, typer.Option(help="also start the serving worker")] = True,
) -> None:
    """Start Prefect server + deployments, the MLflow server and UI, and the worker on 127.0.0.1."""
    settings = _settings()
    from flows.stack import start_stack

    for line in _run(lambda: start_stack(settings, with_worker=worker)):
        typer.echo(line)


@app.command()
def down() -> None:
    """Stop what `tate up` started."""
    settings = _settings()
    from flows.stack import stop_stack

    for line in stop_stack(settings):
        typer.echo(line)


def main() -> None:
    app(prog_name="tate")


if __name__ == "__main__":
    sys.exit(main())
