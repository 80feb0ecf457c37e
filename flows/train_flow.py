"""Retraining: features → purged walk-forward CV → backtest → one MLflow run → a registered version.

A version gets an alias only when it passes the promotion gate: the first one becomes `champion` when
it passes the absolute checks, a later one `canary` when it also holds up against the champion; one
that fails gets no alias and its tags say why. A retraining may try several LightGBM configurations (a sweep): the best
out-of-fold net Sharpe is kept, the run records every configuration's Sharpe and the probability of
backtest overfitting, and only the chosen model is registered. Folds run as Prefect tasks
(`flows/training_tasks.py`), in parallel on Dask when asked. Every MLflow write lives in this module,
`flows/training_run.py` (what the run holds) or `flows/tracking.py`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from prefect import flow

from data_contracts.quarantine import apply_quarantine, quarantine_from_frame
from data_contracts.store import BarStore
from data_contracts.symbol_records import load_specs
from data_contracts.symbols import SymbolSpec
from flows import signing, tracking
from flows.data_flows import validate, validation_of_store
from flows.errors import LookaheadFailedError, ValidationFailedError
from flows.lookahead_flow import check_strategies, failure_message, history_for, run_record
from flows.plain_runs import run_logger, subflow, task
from flows.settings import TateSettings
from flows.times import utc_time
from flows.training_run import log_lookahead, log_run_contents
from flows.training_tasks import train_in_tasks
from flows.training_verdict import publish_training_verdict
from flows.verdicts import alias_words
from models.gates import GateDecision, decide_promotion, failed_checks
from models.packaging import log_model_kwargs
from models.strategies import DEFAULT_STRATEGY, strategy_named
from models.strategy import Strategy
from models.train_config import TrainConfig, sweep_configs
from models.training import TrainingOutcome


@task
def load_training_bars(
    settings: TateSettings, symbols: list[str] | None, start: str | None, end: str | None
) -> dict[str, pd.DataFrame]:
    store = BarStore(settings.data_dir)
    names = store.require_symbols(settings.timeframe, symbols)
    lo = utc_time(start, "--start") if start else None
    hi = utc_time(end, "--end") if end else None
    return {name: store.read_bars(name, settings.timeframe, lo, hi) for name in names}


@task
def drop_quarantined(
    bars: dict[str, pd.DataFrame], quarantine_file: str
) -> tuple[dict[str, pd.DataFrame], int]:
    """The bars minus the rows the validation quarantined; the raw store stays as it is."""
    entries = quarantine_from_frame(pd.read_csv(quarantine_file))
    kept = {name: apply_quarantine(frame, name, entries) for name, frame in bars.items()}
    return kept, sum(len(bars[name]) - len(kept[name]) for name in bars)


def judged_store(settings: TateSettings, symbols: list[str]) -> dict[str, Any]:
    """The validation verdict on the bars the store holds now, validating first when there is none.

    Raises:
        ValidationFailedError: the verdict is blocking (schema, survivorship, too much quarantined).
    """
    verdict = validation_of_store(settings, symbols)
    if verdict is None:
        subflow(validate, symbols=symbols)  # a child run under an API: raises when blocking
        verdict = validation_of_store(settings, symbols)
    if verdict is None or verdict.get("blocking"):
        summary = verdict.get("summary") if verdict else "none written"
        raise ValidationFailedError(f"the store's data is blocked by validation; see {summary}")
    return verdict


def _champion_metrics(settings: TateSettings) -> tuple[str, dict[str, float]] | None:
    """The champion's version and OOF metrics, or None when there is no champion to judge against."""
    champion = tracking.alias_version(settings, tracking.CHAMPION)
    if champion is None or champion.run_id is None:
        return None
    run = tracking.client(settings).get_run(champion.run_id)
    metrics = {
        k.removeprefix("oof_"): v for k, v in run.data.metrics.items() if k.startswith("oof_")
    }
    return str(champion.version), metrics


@task
def lookahead_step(
    settings: TateSettings, strategy: Strategy, bars: dict[str, pd.DataFrame], run_name: str
) -> dict[str, Any]:
    """Check the strategy for look-ahead and warm-up on the bars it is about to train on.

    Raises:
        LookaheadFailedError: a check failed; a run named `<run>-lookahead-failed` records why
            and nothing is fitted or registered.
    """
    source, history = history_for(strategy, bars)
    reports, folder = check_strategies(settings.reports_dir, [strategy], history, source)
    record = run_record(reports[0], folder, source)
    if not reports[0].passed:
        tracking.use_experiment(settings)
        with mlflow.start_run(run_name=f"{run_name}-lookahead-failed"):
            log_lookahead(record)
            mlflow.set_tags({"tate.retrain_blocked": "lookahead", "tate.strategy": strategy.name})
        raise LookaheadFailedError(failure_message(reports, folder))
    return record


@task
def log_and_register(
    settings: TateSettings,
    outcome: TrainingOutcome,
    bars: dict[str, pd.DataFrame],
    run_name: str,
    validation: dict[str, Any] | None = None,
    lookahead: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    tracking.use_experiment(settings)
    key = signing.signing_key(settings)  # a key that cannot be read fails before the run
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=run_name) as run:
        workdir = Path(tmp)
        log_run_contents(settings, outcome, bars, workdir, validation)
        if lookahead is not None:
            log_lookahead(lookahead)
        info = mlflow.pyfunc.log_model(
            **log_model_kwargs(
                outcome.strategy, outcome.booster, outcome.model_config, workdir / "model"
            ),
            registered_model_name=settings.model_name,
        )
        version = str(info.registered_model_version)
        # before any alias can point at it: the worker refuses a version without its digest
        # and a signature by a key it trusts
        mlflow_client = tracking.client(settings)
        digest = tracking.record_model_digest(mlflow_client, settings.model_name, version)
        tracking.sign_model_version(mlflow_client, settings.model_name, version, digest, key)
        decision = _decide_aliases(settings, outcome, version, run.info.run_id)
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "version": version,
        **decision,
    }


def _decide_aliases(
    settings: TateSettings, outcome: TrainingOutcome, version: str, run_id: str
) -> dict[str, Any]:
    """Judge the version and move an alias only where the gate says yes.

    With no champion the absolute checks alone decide (a version that passes becomes champion);
    with one, a version that passes becomes canary. A version that fails gets no alias: it
    stays registered, its tags say which checks failed, and a person may still overrule with
    `tate promote --version N --force`.
    """
    client = tracking.client(settings)
    found = _champion_metrics(settings)
    champion = None if found is None else found[1]
    gate: GateDecision = decide_promotion(outcome.metrics, champion, outcome.gate_thresholds)
    failed = failed_checks(gate)
    if gate.passed:
        alias: str | None = tracking.CANARY if champion is not None else tracking.CHAMPION
    else:
        alias = None
    tags = {
        tracking.GATE_PASSED_TAG: str(gate.passed),
        "gate": "passed" if gate.passed else "failed",
        "gate_reasons": "; ".join(gate.reasons)[:4000] or "all checks passed",
        tracking.GATE_FAILED_TAG: "; ".join(failed)[:4000],
        "gate_against": "absolute checks (no champion)"
        if found is None
        else f"champion v{found[0]}",
        "holdout_start": outcome.holdout_start.isoformat(),
        "run_id": run_id,
        "booster_sha256": outcome.booster_sha256,
        "n_configurations": str(len(outcome.configurations)),
    }
    if alias is None:
        tags["alias_withheld"] = "the gate failed: " + "; ".join(failed)[:3900]
    for key, value in tags.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    mlflow.set_tags(
        {
            "tate.gate": tags["gate"],
            "tate.gate_passed": str(gate.passed),
            "tate.gate_reasons": tags["gate_reasons"],
        }
    )
    if alias is not None:
        why = "retrain:gate-passed" if champion is not None else "retrain:first-version-gate-passed"
        tracking.set_alias(settings, alias, version, by=why)
    return {
        "alias": alias,
        "gate_passed": gate.passed,
        "gate_reasons": gate.reasons,
        "gate_checks": [dataclasses.asdict(check) for check in gate.checks],
        "gate_against": tags["gate_against"],
    }


def training_config(
    num_boost_round: int | None,
    learning_rate: float | None,
    shuffle_labels: bool,
    leak_canary: bool,
) -> TrainConfig:
    """The default config with the Run form's overrides."""
    config = TrainConfig()
    overrides: dict[str, Any] = {"shuffle_labels": shuffle_labels, "leak_canary": leak_canary}
    if num_boost_round is not None:
        overrides["num_boost_round"] = num_boost_round
    if learning_rate is not None:
        overrides["params"] = {**config.params, "learning_rate": learning_rate}
    return dataclasses.replace(config, **overrides)


def with_symbol_specs(config: TrainConfig, specs: Mapping[str, SymbolSpec]) -> TrainConfig:
    """``config`` whose cost model carries the symbols' records (contract size, tick size,
    currencies, volume grid), so a metal or an index CFD is costed and sized as it trades."""
    return dataclasses.replace(config, costs=dataclasses.replace(config.costs, specs=specs))


def model_name_for(strategy: Strategy) -> str:
    """The registered model a strategy other than the default registers under."""
    return "tate-" + strategy.name.replace("_", "-")


def settings_for(settings: TateSettings, strategy: Strategy) -> TateSettings:
    """``settings`` with the model name ``strategy`` registers under: `TATE_MODEL_NAME` for
    the default strategy, `tate-<name>` for another (the worker serves `TATE_MODEL_NAME`)."""
    if strategy.name == DEFAULT_STRATEGY:
        return settings
    return settings.model_copy(update={"model_name": model_name_for(strategy)})


@flow(name="retrain")
def retrain(
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    num_boost_round: int | None = None,
    learning_rate: float | None = None,
    shuffle_labels: bool = False,
    sweep: list[dict[str, float | int | str | bool]] | None = None,
    leak_canary: bool = False,
    parallel_folds: bool = False,
    dask_address: str | None = None,
    strategy: str | None = None,
) -> dict[str, Any]:
    """Train on the store, log one MLflow run, register a version and move aliases by the gate.

    Args:
        symbols: symbols to train on (default: every stored symbol).
        start: first bar, ISO date (UTC); default: the store's first.
        end: last bar, ISO date (UTC); default: the store's last.
        num_boost_round: LightGBM boosting rounds (default 150).
        learning_rate: LightGBM learning rate (default 0.03).
        shuffle_labels: train on permuted labels, a control that must fail the gate.
        sweep: LightGBM parameter overrides, one configuration each, e.g.
            `[{"num_leaves": 7}, {"num_leaves": 31, "learning_rate": 0.05}]`; the best
            out-of-fold net Sharpe is registered, judged with the PBO and a deflated Sharpe
            that counts every configuration.
        leak_canary: also walk forward with a deliberately leaked feature and report whether
            its importance and out-of-fold scores jump (that model is never registered).
        parallel_folds: run the folds on a temporary two-worker Dask cluster on this machine.
        dask_address: run the folds on this Dask scheduler instead (e.g. `tcp://host:8786`).
        strategy: the shipped strategy to train (`models.strategies`; default
            `lgbm_momentum`, registered as `TATE_MODEL_NAME`; another registers under its own
            model name). Its look-ahead and warm-up check runs first and blocks on failure.
    """
    chosen = strategy_named(strategy or DEFAULT_STRATEGY)
    settings = settings_for(TateSettings(), chosen)
    logger = run_logger()
    config = training_config(num_boost_round, learning_rate, shuffle_labels, leak_canary)
    sweep_configs(config, sweep)  # a bad sweep fails here, before anything is read
    raw = load_training_bars(settings, symbols, start, end)  # bad symbols/ranges fail here, first
    # the symbols' one record each, read once: the backtest's costs and sizing use it
    config = with_symbol_specs(config, load_specs(settings.data_dir, sorted(raw)))
    verdict = judged_store(settings, sorted(raw))
    bars, quarantined = drop_quarantined(raw, verdict["quarantine_file"])
    run_name = datetime.now().astimezone().strftime("retrain-%Y%m%d-%H%M%S")
    lookahead = lookahead_step(settings, chosen, bars, run_name)  # blocks before any fit
    outcome = train_in_tasks(
        chosen, bars, config, sweep, parallel=parallel_folds, dask_address=dask_address
    )
    if outcome.leak_canary is not None and not outcome.leak_canary.detected:
        logger.warning(
            "leak canary missed: planted feature ranked %d with %.0f%% of the gain, AUC jump %.3f",
            outcome.leak_canary.importance_rank,
            100 * outcome.leak_canary.importance_share,
            outcome.leak_canary.auc_jump,
        )
    validation = {**verdict, "quarantined_rows": quarantined}
    result = log_and_register(settings, outcome, bars, run_name, validation, lookahead)
    shown = publish_training_verdict(settings, outcome, result, datetime.now(UTC))
    logger.info(
        "version %s of %s (run %s): OOF AUC %.3f, net Sharpe %.2f over %d configuration(s); %s; "
        "verdict %s",
        result["version"],
        settings.model_name,
        result["run_id"],
        outcome.metrics.get("auc", float("nan")),
        outcome.metrics.get("sharpe_net", float("nan")),
        len(outcome.configurations),
        alias_words(result["alias"], result["gate_reasons"]),
        shown,
    )
    return {**result, "verdict": str(shown)}
