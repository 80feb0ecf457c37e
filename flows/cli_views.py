"""`tate status`, `tate trades`, `tate positions`: live trading as a person reads it.

They read the journal (``flows.journal_reader``: read-only, no Prefect, no great-expectations),
so they answer at once while a worker writes; ``flows.trading_view`` turns what they read into
tables or JSON. `status` also probes the stack and reads the registry and the reports
(``flows.status_facts``, rendered by ``flows.status_view``). Imports happen inside the commands: every other
`tate` command loads this module too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from flows.cli_app import app
from flows.cli_settings import command_settings

JsonOption = Annotated[bool, typer.Option("--json", help="JSON for scripts instead of a table")]


def _show(found: Any, as_json_output: bool, format_text: Any) -> None:
    from flows.trading_view import as_json

    if as_json_output:
        typer.echo(json.dumps(as_json(found), indent=2))
    else:
        typer.echo(format_text(found), nl=False)


@app.command()
def status(as_json_output: JsonOption = False) -> None:
    """One screen: the stack's health (Prefect, MLflow, the worker's /metrics), each alias
    with its version, gate verdict and risk fraction, breakers, positions and today's PnL per
    role, the error budget left, the last validation and drift verdicts, and what to do next."""
    from flows.status_facts import gather
    from flows.status_view import format_screen, status_json

    facts = gather(command_settings())
    if as_json_output:
        typer.echo(json.dumps(status_json(facts), indent=2))
    else:
        typer.echo(format_screen(facts), nl=False)


@app.command()
def trades(
    last: Annotated[int | None, typer.Option(min=1, help="only the newest N trades")] = None,
    role: Annotated[str | None, typer.Option(help="only this role, e.g. champion")] = None,
    symbol: Annotated[str | None, typer.Option(help="only this symbol")] = None,
    as_json_output: JsonOption = False,
) -> None:
    """Filled orders from the journal, oldest first (UTC times)."""
    from flows.journal_reader import open_journal, read_trades
    from flows.trading_view import format_trades, select_trades

    engine = open_journal(command_settings().journal)
    found = [] if engine is None else read_trades(engine)
    chosen = select_trades(found, last=last, role=role, symbol=symbol)
    _show(chosen, as_json_output, format_trades)


@app.command()
def positions(as_json_output: JsonOption = False) -> None:
    """Open positions per account, role and symbol, as the journal's fills add up."""
    from flows.journal_reader import open_journal, read_trades
    from flows.trading_view import format_positions, positions_of

    engine = open_journal(command_settings().journal)
    _show([] if engine is None else positions_of(read_trades(engine)), as_json_output,
          format_positions)  # fmt: skip
