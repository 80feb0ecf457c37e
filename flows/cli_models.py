"""`tate` commands of the model lifecycle: train, lookahead, promote, rollback, drift, resume, gate.

Registered on the one `app` (`flows/cli_app.py`); each builds its settings first
(`flows/cli_settings.command_settings`), then imports the flow it runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flows.cli_app import app
from flows.cli_settings import check_store, command_settings
from flows.errors import (
    BadOptionError,
    GateFailedError,
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
    settings = command_settings()
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
    check_store(settings, symbol)
    from flows.plain_runs import run_flow
    from flows.train_flow import retrain

    result = run_flow(
        retrain,
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
    settings = command_settings()
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
    settings = command_settings()
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
    settings = command_settings()
    from flows import tracking

    target = None if to_version is None else str(to_version)
    typer.echo(
        f"champion -> version {tracking.rollback_champion(settings, by='cli', to_version=target)}"
    )


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
    settings = command_settings()
    from flows.drift_evidence import resolve_version
    from flows.drift_flow import drift_report
    from flows.plain_runs import run_flow

    named = None if version is None else str(version)
    resolve_version.fn(settings, role, named)  # a missing alias or version, before the flow
    result = run_flow(drift_report, role=role, version=named)
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
    settings = command_settings()
    from flows import tracking

    why = tracking.resume(settings, by=by)
    if why is None:
        typer.echo(f"{settings.model_name} is not halted; nothing changed")
    else:
        typer.echo(f"{settings.model_name} resumed by {by} (was {why})")


@app.command()
def gate() -> None:
    """Canary against champion on the journal: promote, widen, hold or roll back (exit 1)."""
    command_settings()
    from flows.canary_gate import canary_gate
    from flows.errors import CanaryRolledBackError
    from flows.plain_runs import run_flow

    result = run_flow(canary_gate)
    typer.echo(f"canary gate: {result['outcome']}: {'; '.join(result['reasons'])}")
    for budget in result["budgets"]:
        typer.echo(f"  budget {budget}")
    if result["report"]:
        typer.echo(f"report: {result['report']}")
    if result["outcome"] == "rollback":
        raise CanaryRolledBackError(
            f"canary v{result['canary']} rolled back: {'; '.join(result['reasons'])}"
        )
