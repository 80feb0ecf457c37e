"""The `tate` Typer app and the group that keeps the exit-code contract for every command.

Exit codes (DESIGN, "Outside contracts"): 0 ok; 1 a check or gate said no; 2 bad input or
configuration, one line naming the file, line, option, variable, symbol or alias, no traceback;
3 an unexpected error (a bug), with its traceback. `TateGroup` maps every exception a command
raises through the one table in `flows/errors.py`. Commands live in `flows/cli.py` (data and
operations) and `flows/cli_models.py` (the model lifecycle); both register on `app`.
"""

from __future__ import annotations

from typing import Any, Literal

import typer
from typer.core import TyperGroup

from flows.errors import (
    quiet_operator_tracebacks,
    report,
)

IngestSource = Literal["sim", "csv", "mt5", "mt5linux"]
TerminalKind = Literal["sim", "mt5", "mt5linux"]


class TateGroup(TyperGroup):
    """Every command's exceptions end here: one line and exit 1/2, or a traceback and exit 3."""

    def invoke(self, ctx: Any) -> Any:
        quiet_operator_tracebacks()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exits already decided, and Typer's own usage errors (exit 2)
        except Exception as error:
            raise typer.Exit(report(error)) from None


app = typer.Typer(
    cls=TateGroup,
    help="tate: the shield for ML trading models on MetaTrader 5.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # plain Click errors: "Error: Invalid value for '--terminal': …" on one line, not a box
    rich_markup_mode=None,
)
