"""`tate universe list | set` and `tate symbols set | show`: the reference data beside the bars.

`tate ingest` adds a new symbol listed from its first bar and never moves a row; a person
corrects a row here (a listing date the export does not show, a delisting), saying who they
are. Every change goes to `data/universe_log.csv` with who and when (data_contracts/universe.py).
"""

from __future__ import annotations

from pathlib import Path
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


symbols_app = typer.Typer(
    cls=TateGroup,
    help="Symbol specifications (data/symbols/<SYMBOL>.json) for symbols the known table lacks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(symbols_app, name="symbols")


@symbols_app.command("set")
def set_symbol_spec(
    symbol: Annotated[str, typer.Argument(help="the broker's symbol name")],
    spec: Annotated[
        Path,
        typer.Option(
            help="JSON object of MT5 symbol_info fields; at least currency_base, "
            "currency_profit, digits, trade_contract_size",
            exists=True,
            dir_okay=False,
        ),
    ],
    by: Annotated[str, typer.Option(help="who vouches for these figures (kept as its source)")],
) -> None:
    """Store a desk's spec for a symbol imported from files (checked before it is stored)."""
    from data_contracts.symbols import check_symbol

    check_symbol(symbol)
    settings = command_settings()
    from datetime import UTC, datetime

    from data_contracts.symbol_records import read_spec_file, write_spec
    from flows.errors import BadOptionError

    if not by.strip():
        raise BadOptionError("--by must name who vouches for the spec")
    record = read_spec_file(spec, symbol)
    path = write_spec(
        settings.data_dir, record, source=f"{spec.name} by {by}", read_at=datetime.now(UTC)
    )
    typer.echo(f"{symbol}: spec stored at {path}")


@symbols_app.command("show")
def show_symbol_spec(
    symbol: Annotated[str, typer.Argument(help="the broker's symbol name")],
) -> None:
    """Print the spec tate uses for a symbol (stored record, else the known table) as JSON."""
    from data_contracts.symbols import check_symbol

    check_symbol(symbol)
    settings = command_settings()
    import json
    from dataclasses import asdict

    from data_contracts.symbol_records import load_spec

    typer.echo(json.dumps(asdict(load_spec(settings.data_dir, symbol)), indent=2))
