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
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from flows.environment import prepare_environment
from flows.errors import (
    BadOptionError,
    BadSettingError,
    GateFailedError,
    quiet_operator_tracebacks,
    report,
)
from flows.settings import TateSettings

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


def _settings() -> TateSettings:
    """The settings, checked, and TATE_HOME's folders made; or one line naming the variable.

    Everything here is cheap and starts nothing: the settings' own checks, then a home that
    can hold a store (its parent exists, and a file can be written in it).
    """
    try:
        settings = TateSettings()
    except ValidationError as error:
        raise BadSettingError(describe_setting_error(error)) from None
    check_home(settings.home)
    try:
        prepare_environment(settings)
        probe_writable(settings.home)
    except OSError as error:
        raise BadSettingError(
            f"bad setting TATE_HOME={str(settings.home)!r}: cannot write "
            f"{error.filename or settings.home}: {error.strerror or error}"
        ) from None
    return settings


def check_home(home: Path) -> None:
    """Refuse a home whose parent folder is missing (a typo would grow a new tree elsewhere).

    Raises:
        BadSettingError: naming TATE_HOME, its value and what is wrong with the parent.
    """
    parent = home.parent
    if home.is_dir() or parent.is_dir():
        return
    why = "is not a folder" if parent.exists() else "does not exist"
    raise BadSettingError(
        f"bad setting TATE_HOME={str(home)!r}: its parent {parent} {why}; "
        "point TATE_HOME at a folder (or inside an existing one)"
    )


def probe_writable(home: Path) -> None:
    """Write and remove one small file, so a read-only home is named now, not mid-flow."""
    import tempfile

    with tempfile.NamedTemporaryFile(dir=home, prefix=".tate-write-probe-"):
        pass


def warn_remote_hosts(settings: TateSettings) -> None:
    """A warning per host setting that leaves loopback (allowed by TATE_ALLOW_REMOTE_BINDS)."""
    import logging

    for line in settings.remote_hosts():
        logging.getLogger("tate").warning("tate: warning: %s", line)


SECRET_SETTINGS = frozenset({"journal_url"})


def describe_setting_error(error: ValidationError) -> str:
    """`bad setting TATE_X='value': why`, for the first refused setting (secrets not echoed).

    A check across settings (a host and its opt-in) names its variable in its own words.
    """
    first = error.errors()[0]
    why = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return f"bad setting {why}"
    field = str(first["loc"][0])
    shown = "" if field in SECRET_SETTINGS else f"={first.get('input')!r}"
    if len(first["loc"]) > 1 and field not in SECRET_SETTINGS:  # an item of a list
        shown = f"={_environment_value(field)!r} (item {first['loc'][1]})"
    return f"bad setting TATE_{field.upper()}{shown}: {why}"


def _environment_value(field: str) -> str | None:
    import os

    return os.environ.get(f"TATE_{field.upper()}")


def _check_store(settings: TateSettings, symbols: list[str] | None) -> list[str]:
    """The symbols a command will read, each stored; checked before a flow (and server) starts."""
    from data_contracts.store import BarStore

    return BarStore(settings.data_dir).require_symbols(settings.timeframe, symbols)


@app.command()
def demo() -> None:
    """The main job on embedded defaults: data → validate → train → serve → drift, then where it all is."""
    _settings()
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
    settings = _settings()
    if source == "csv" and (path is None or symbol is None):
        raise BadOptionError("ingest --source csv needs --path and --symbol")
    from flows.data_flows import ingest as ingest_flow
    from flows.times import utc_time

    if start:
        utc_time(start, "--start")
    if source in ("mt5", "mt5linux"):
        from flows.serve import live_terminal

        warn_remote_hosts(settings)
        live_terminal(settings, source)  # installed and answering, before Prefect starts
    written = ingest_flow(
        source=source, path=str(path) if path else None, symbol=symbol, start=start
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
    settings = _settings()
    _check_store(settings, symbol)
    from flows.data_flows import validate as validate_flow

    result = validate_flow(symbols=symbol or None)
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
    shuffle_labels: Annotated[
        bool, typer.Option(help="control run on shuffled labels (the gate must say no: exit 1)")
    ] = False,
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
    strategy: Annotated[
        str | None,
        typer.Option(
            help="shipped strategy to train (default lgbm_momentum, as TATE_MODEL_NAME; "
            "another registers as tate-<name>)"
        ),
    ] = None,
) -> None:
    """Retrain, log one MLflow run, register a version; the gate decides whether it becomes canary.

    Exits 1 when the gate says no (after printing the version, its run and the checks).
    """
    settings = _settings()
    from flows.times import utc_time
    from models.train_config import TrainConfig, sweep_configs

    configurations = _json_list(sweep, "--sweep") if sweep else None
    sweep_configs(TrainConfig(), configurations)  # a bad sweep is named before anything runs
    for option, text in (("--start", start), ("--end", end)):
        if text:
            utc_time(text, option)
    if strategy is not None:
        from models.strategies import strategy_named

        strategy_named(strategy)  # an unknown name is named before anything runs
    _check_store(settings, symbol)
    from flows.train_flow import retrain

    result = retrain(
        strategy=strategy,
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
    say_gate(result)


@app.command()
def lookahead(
    strategy: Annotated[
        str | None, typer.Option(help="shipped strategy to check (default: every one)")
    ] = None,
) -> None:
    """Check strategies for look-ahead and too short a warm-up; exit 1 when a check fails.

    Features and signals are recomputed on a small synthetic history cut at sampled bars (a
    value that changes when later bars arrive reads the future) and from the declared warm-up
    (a value that depends on where the history starts needs more). The report goes to
    reports/lookahead/<UTC stamp>/.
    """
    settings = _settings()
    from flows.lookahead_flow import (
        SYNTHETIC_SYMBOL,
        check_strategies,
        require_passed,
        synthetic_history,
    )
    from models.strategies import STRATEGIES, strategy_named

    chosen = [strategy_named(strategy)] if strategy else list(STRATEGIES.values())
    reports, folder = check_strategies(
        settings.reports_dir,
        chosen,
        synthetic_history(settings.seed),
        f"synthetic:{SYNTHETIC_SYMBOL}",
    )
    for checked in reports:
        typer.echo(f"{checked.strategy}: {'passed' if checked.passed else 'FAILED'}")
    require_passed(reports, folder)
    typer.echo(f"report: {folder / 'report.md'}")


def say_gate(result: dict[str, Any]) -> None:
    """Print what `retrain` registered and how the gate judged it; a "no" raises (exit 1)."""
    typer.echo(
        f"version {result['version']} (run {result['run_id']}): alias {result['alias'] or 'none'}; "
        f"gate {'passed' if result['gate_passed'] else 'failed'}: {'; '.join(result['gate_reasons'])}"
    )
    if not result["gate_passed"]:
        failed = [r for r in result["gate_reasons"] if not r.startswith("ok:")]
        raise GateFailedError(
            f"the gate said no to version {result['version']} (run {result['run_id']}), "
            "which gets no alias: " + "; ".join(failed)
        )


def _json_list(text: str, option: str) -> list[dict[str, Any]]:
    """A JSON list of objects from the command line.

    Raises:
        BadOptionError: not JSON, or not a list of objects; the message names the option.
    """
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadOptionError(f"{option}: not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadOptionError(f"{option}: expected a JSON list of objects, got {text!r}")
    return value


@app.command()
def promote(
    version: Annotated[
        int | None, typer.Option(help="version to make champion (default: canary)", min=1)
    ] = None,
    force: Annotated[
        bool, typer.Option(help="overrule a failed gate (needs --by and --reason; recorded)")
    ] = False,
    by: Annotated[str | None, typer.Option(help="who promotes (recorded on the version)")] = None,
    reason: Annotated[str | None, typer.Option(help="why (recorded on the version)")] = None,
) -> None:
    """Make the canary (or a named version) the champion, as a person would in the MLflow UI.

    A version whose training gate failed is refused (exit 1, naming the failed checks) unless
    --force is given with --by and --reason; who, when and why land on the version's tags.
    """
    settings = _settings()
    if force and not (by and reason):
        raise BadOptionError("promote --force needs --by WHO and --reason TEXT")
    from flows import tracking

    named = None if version is None else str(version)
    promoted = tracking.promote(settings, version=named, by=by or "cli", force=force, reason=reason)
    typer.echo(f"champion -> version {promoted}{' (gate overruled)' if force else ''}")


@app.command()
def rollback(
    to_version: Annotated[int | None, typer.Option(help="version to return to", min=1)] = None,
) -> None:
    """Point champion back at the version it replaced."""
    settings = _settings()
    from flows import tracking

    target = None if to_version is None else str(to_version)
    typer.echo(
        f"champion -> version {tracking.rollback_champion(settings, by='cli', to_version=target)}"
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
) -> None:
    """Trade `champion` and `canary` through the MT5 adapter (SimTerminal replays the hold-out).

    Logs are JSON lines on stderr (secrets redacted); the summary goes to stdout.
    """
    settings = _settings()
    from flows.serve import run_worker
    from flows.stack import port_problem
    from flows.times import utc_time
    from serving.logs import configure_json_logging

    first = utc_time(start, "--start") if start else None
    port = settings.metrics_port if metrics_port is None else metrics_port
    problem = port_problem(port, settings.metrics_host) if port else None
    if problem:
        raise BadOptionError(
            f"metrics port {port} on {settings.metrics_host} {problem} choose another port with "
            "--metrics-port or TATE_METRICS_PORT"
        )
    configure_json_logging(settings.log_level.upper())
    warn_remote_hosts(settings)
    summary = run_worker(
        settings,
        terminal=terminal,
        max_bars=bars,
        pace_seconds=pace,
        metrics_port=metrics_port,
        start=first,
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
def drift(
    role: Annotated[str, typer.Option(help="alias whose version to check")] = "champion",
    version: Annotated[
        int | None, typer.Option(help="explicit version instead of the alias", min=1)
    ] = None,
) -> None:
    """Data, prediction and concept drift of a version against its training; exit 1 when flagged.

    Evidently's HTML report plus our PSI/KS/Wasserstein of journaled features against the
    training features, the model's outputs against its out-of-fold predictions, and realised
    outcomes against the out-of-fold figures. Drift past a halting threshold sets the
    registered model's `halted` tag (cleared with `tate resume --by WHO`).
    """
    settings = _settings()
    from flows.drift_flow import drift_report, resolve_version

    named = None if version is None else str(version)
    resolve_version.fn(settings, role, named)  # a missing alias or version, before the flow
    result = drift_report(role=role, version=named)
    typer.echo(f"drift {'FLAGGED' if result['drifted'] else 'none'}\nreport: {result['report']}")
    for line in result.get("findings", []):
        typer.echo(f"  {line}")
    if result.get("halted"):
        typer.echo(f"halted: {result['halted']}")
    if result["drifted"]:
        from flows.errors import DriftFlaggedError

        raise DriftFlaggedError(
            f"drift flagged on version {result['version']}"
            + (" and the model is halted" if result.get("halted") else "")
            + f"; report {result['report']}"
        )


@app.command()
def resume(
    by: Annotated[str, typer.Option(help="who decided trading may resume (recorded)")],
) -> None:
    """Clear the registered model's `halted` tag; who and when are recorded on its tags."""
    settings = _settings()
    from flows import tracking

    why = tracking.resume(settings, by=by)
    if why is None:
        typer.echo(f"{settings.model_name} is not halted; nothing changed")
    else:
        typer.echo(f"{settings.model_name} resumed by {by} (was {why})")


@app.command()
def gate() -> None:
    """Canary against champion on the journal: promote, widen, hold or roll back (exit 1)."""
    settings = _settings()
    import os

    from flows.errors import CanaryRolledBackError

    if os.environ.get("PREFECT_API_URL"):
        from flows.canary_gate import canary_gate

        result = canary_gate()
    else:  # no API up: the plain function, no temporary server
        from flows.canary_gate import run_gate

        result = run_gate(settings).as_dict()
    typer.echo(f"canary gate: {result['outcome']}: {'; '.join(result['reasons'])}")
    for budget in result["budgets"]:
        typer.echo(f"  budget {budget}")
    if result["report"]:
        typer.echo(f"report: {result['report']}")
    if result["outcome"] == "rollback":
        raise CanaryRolledBackError(
            f"canary v{result['canary']} rolled back: {'; '.join(result['reasons'])}"
        )


@app.command()
def up(
    worker: Annotated[bool, typer.Option(help="also start the serving worker")] = True,
) -> None:
    """Start Prefect server + deployments, the MLflow server and UI, and the worker on 127.0.0.1."""
    settings = _settings()
    from flows.stack import start_stack

    warn_remote_hosts(settings)
    for line in start_stack(settings, with_worker=worker):
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
    main()
