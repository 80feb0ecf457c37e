"""`tate`: the one command line.

Exit codes (DESIGN, "Outside contracts"): 0 ok; 1 a check or gate said no; 2 bad input or
configuration, one line naming the file, line, option, variable, symbol or alias, no traceback;
3 an unexpected error (a bug), with its traceback. `TateGroup` maps every exception a command
raises through the one table in `flows/errors.py`; a bad option value is refused by Typer while
parsing (exit 2), a bad `TATE_` variable while the settings are built. What can be checked
cheaply (options, settings, the symbols in the store, ports) is checked before any server or
flow starts.

Flow modules import Prefect, which reads its settings at import time, so every command first builds the
settings and points the ecosystem at TATE_HOME, then imports what it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli_app import IngestSource, TateGroup, TerminalKind, app
from flows.cli_settings import check_store, command_settings, warn_remote_hosts
from flows.errors import BadOptionError

__all__ = ["IngestSource", "TateGroup", "TerminalKind", "app", "main"]


@app.command()
def demo() -> None:
    """The main job on embedded defaults: data → validate → train → serve → drift, then where it all is."""
    command_settings()
    from flows.demo import run_demo

    run_demo()


@app.command()
def ingest(
    source: Annotated[
        IngestSource,
        typer.Option(help="sim (synthetic market), csv (MT5 export), mt5 or mt5linux (terminal)"),
    ] = "sim",
    path: Annotated[
        Path | None,
        typer.Option(help="MT5 'Export bars' file (csv source)", exists=True, dir_okay=False),
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(
            help="symbol the file holds (csv source): 1-32 letters, digits, '.', '_', '-'"
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="terminal sources: first bar (UTC) of a symbol not yet stored"),
    ] = None,
) -> None:
    """Put bars into the store under TATE_HOME/data (never editing what is there).

    A csv import is all or nothing: a line that cannot be stored as written refuses the file
    (exit 2 naming file:line) and leaves the store as it was.
    """
    if symbol is not None:
        from data_contracts.symbols import check_symbol

        check_symbol(symbol)  # a symbol becomes a folder: refused before any path is built
    settings = command_settings()
    if source == "csv" and (path is None or symbol is None):
        raise BadOptionError("ingest --source csv needs --path and --symbol")
    from flows.data_flows import ingest as ingest_flow
    from flows.plain_runs import run_flow
    from flows.times import utc_time

    if start:
        utc_time(start, "--start")
    if source in ("mt5", "mt5linux"):
        from flows.terminals import live_terminal

        warn_remote_hosts(settings)
        live_terminal(settings, source)  # installed and answering, before Prefect starts
    written = run_flow(
        ingest_flow, source=source, path=str(path) if path else None, symbol=symbol, start=start
    )
    for name, rows in written.items():
        typer.echo(f"{name}: {rows}" if isinstance(rows, str) else f"{name}: {rows} bars")


@app.command()
def validate(
    symbol: Annotated[
        list[str] | None, typer.Option(help="symbols to check (default: all)")
    ] = None,
) -> None:
    """Run the data contracts; quarantine bad rows; exit 1 when the data set is blocked."""
    settings = command_settings()
    check_store(settings, symbol)
    from flows.data_flows import validate as validate_flow
    from flows.plain_runs import run_flow

    result = run_flow(validate_flow, symbols=symbol or None)
    if result["failures"]:
        typer.echo(result["failures"])
    typer.echo(
        f"verdict {result['result_id']}: usable for training"
        f" ({result['quarantined']} quarantined ranges are left out)\n"
        f"Data Docs:  {result['data_docs']}\nsummary:    {result['summary']}\n"
        f"quarantine: {result['quarantine']}"
    )


@app.command()
def serve(
    terminal: Annotated[TerminalKind, typer.Option(help="sim, mt5 or mt5linux")] = "sim",
    bars: Annotated[int | None, typer.Option(help="stop after this many closed bars")] = None,
    pace: Annotated[float, typer.Option(help="seconds between replayed bars (sim)")] = 0.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="port of /metrics (0: any free port)", min=0, max=65535)
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="sim: replay from this UTC time instead of the hold-out")
    ] = None,
    new_journal: Annotated[
        bool, typer.Option(help="move the journal aside (never deleted) and start a new one")
    ] = False,
    by: Annotated[str | None, typer.Option(help="who decided on --new-journal")] = None,
    simulate_live: Annotated[
        bool,
        typer.Option(
            help="sim: after the stored bars, go on with a simulated live market (generated "
            "bars, never stored)"
        ),
    ] = False,
) -> None:
    """Trade `champion` and `canary` through the MT5 adapter (SimTerminal replays the hold-out).

    Logs go to stderr, secrets redacted: short lines on a terminal, else JSON lines
    (TATE_LOG_FORMAT=json|text to choose); the summary goes to stdout.
    """
    if new_journal != bool(by and by.strip()):
        raise BadOptionError("--new-journal needs --by WHO (and --by is only for --new-journal)")
    if simulate_live and terminal != "sim":
        raise BadOptionError("--simulate-live is for --terminal sim (a live terminal has bars)")
    settings = command_settings()
    from flows.serve import run_worker
    from flows.stack import port_problem
    from flows.times import utc_time
    from serving.logs import configure_logging

    first = utc_time(start, "--start") if start else None
    port = settings.metrics_port if metrics_port is None else metrics_port
    problem = port_problem(port, settings.metrics_host) if port else None
    if problem:
        raise BadOptionError(
            f"metrics port {port} on {settings.metrics_host} {problem} choose another port with "
            "--metrics-port or TATE_METRICS_PORT"
        )
    configure_logging(settings.log_level.upper(), log_format=settings.log_format)
    warn_remote_hosts(settings)
    summary = run_worker(
        settings,
        terminal=terminal,
        max_bars=bars,
        pace_seconds=pace,
        metrics_port=metrics_port,
        start=first,
        new_journal_by=by.strip() if new_journal and by else None,
        simulate_live=simulate_live,
    )
    typer.echo(summary)


@app.command("reset-breaker")
def reset_breaker(
    name: Annotated[str, typer.Argument(help="breaker to reset (see the journal or /metrics)")],
    by: Annotated[str, typer.Option(help="who decided trading may resume")],
    note: Annotated[str, typer.Option(help="why")] = "",
) -> None:
    """Ask the running (or next) worker to reset a tripped circuit breaker; it journals the reset."""
    settings = command_settings()
    from datetime import UTC, datetime

    from serving.journal import Journal
    from serving.risk.board import BREAKER_NAMES

    if name not in BREAKER_NAMES:
        raise BadOptionError(
            f"unknown breaker {name!r}: expected one of {', '.join(BREAKER_NAMES)}"
        )
    journal = Journal(settings.journal)
    try:
        journal.request_breaker_reset(name, by=by, at=datetime.now(UTC), note=note)
    finally:
        journal.close()
    typer.echo(f"reset of {name} requested by {by}; the worker applies it before its next bar")


@app.command()
def up(
    worker: Annotated[bool, typer.Option(help="also start the serving worker")] = True,
) -> None:
    """Start Prefect server + deployments, the MLflow server and UI, and the worker on 127.0.0.1.

    The worker (SimTerminal) replays the hold-out, then follows a simulated live market at
    TATE_SIM_PACE_SECONDS a bar; a supervisor restarts it with back-off whenever it stops.
    """
    settings = command_settings()
    from flows.stack import start_stack

    warn_remote_hosts(settings)
    for line in start_stack(settings, with_worker=worker):
        typer.echo(line)


@app.command()
def down() -> None:
    """Stop what `tate up` started: one line per service stopped, or that nothing was running."""
    settings = command_settings()
    from flows.stack import stop_stack

    for line in stop_stack(settings):
        typer.echo(line)


# the model-lifecycle commands register on `app` after the data and operations ones (help order),
# then the views of live trading (status, trades, positions), `backup`, `universe` and `symbols`
from flows import cli_backup, cli_models, cli_universe, cli_views  # noqa: E402, F401


def main() -> None:
    app(prog_name="tate")


if __name__ == "__main__":
    main()
