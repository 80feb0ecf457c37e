"""`tate universe list | set`: read and correct the point-in-time universe the importer keeps.

`tate ingest` adds a new symbol listed from its first bar and never moves a row; a person
corrects a row here (a listing date the export does not show, a delisting), saying who they
are. Every change goes to `data/universe_log.csv` with who and when (data_contracts/universe.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli_app import TateGroup, app
from flows.cli_settings import command_settings

universe_app = typer.Typer(
    cls=TateGroup,
    help="The point-in-time universe (data/universe.csv) and its change log.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(universe_app, name="universe")


@universe_app.command("list")
def list_universe() -> None:
    """One line per symbol: listed from, delisted at (or 'listed'); then where the log is."""
    settings = command_settings()
    from data_contracts.store import BarStore
    from data_contracts.universe import describe_universe, log_path, read_universe_or_empty

    store = BarStore(settings.data_dir)
    universe = read_universe_or_empty(store)
    if universe.empty:
        typer.echo(f"no universe yet at {store.universe_path}; `tate ingest` starts one")
        return
    for line in describe_universe(universe):
        typer.echo(line)
    typer.echo(f"universe: {store.universe_path}\nlog:      {log_path(store)}")


@universe_app.command("set")
def set_universe(
    symbol: Annotated[str, typer.Argument(help="the symbol whose row to set (added if absent)")],
    listed_from: Annotated[str, typer.Option(help="first time it traded (ISO, UTC)")],
    by: Annotated[str, typer.Option(help="who makes this change (goes to the log)")],
    delisted_at: Annotated[
        str | None, typer.Option(help="when it stopped trading (ISO, UTC); omit: still listed")
    ] = None,
) -> None:
    """Set one symbol's listing; the change is appended to data/universe_log.csv."""
    from data_contracts.symbols import check_symbol

    check_symbol(symbol)
    settings = command_settings()
    from datetime import UTC, datetime

    import pandas as pd

    from data_contracts.store import BarStore
    from data_contracts.universe import read_universe_or_empty, record_changes, set_listing
    from flows.errors import BadOptionError
    from flows.times import utc_time

    if not by.strip():
        raise BadOptionError("--by must name who makes the change")
    listed = pd.Timestamp(utc_time(listed_from, "--listed-from"))
    delisted = pd.Timestamp(utc_time(delisted_at, "--delisted-at")) if delisted_at else None
    store = BarStore(settings.data_dir)
    universe, change = set_listing(read_universe_or_empty(store), symbol, listed, delisted)
    record_changes(store, universe, [change], by=by, at=datetime.now(UTC))
    until = f" → {delisted.isoformat()}" if delisted is not None else " (listed)"
    typer.echo(f"{symbol}: listed_from {listed.isoformat()}{until}; logged by {by}")
