"""Gather what `tate status` shows: the stack's health, the registry, the journal, the verdicts.

All of `tate status`'s I/O, each source read once, each bounded: the three health probes run
concurrently with a one-second timeout each; the registry is read only where it can answer
at once (the home's SQLite store when it exists, or a tracking server that just answered its
health probe), through an ``MlflowClient`` given its tracking and registry URI (no MLflow
process-global state); the journal through ``flows.journal_reader``. Neither Prefect nor
great-expectations is imported. ``flows.status_view`` turns the facts into the screen.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from flows.journal_reader import (
    open_journal,
    read_currencies,
    read_slo_rows,
    read_status,
    read_trades,
)
from flows.reports_home import read_runs
from flows.settings import TateSettings
from flows.stack import mlflow_url, prefect_api_url, running_pid
from flows.status_view import (
    AliasFacts,
    Health,
    LastVerdict,
    RegistryFacts,
    StatusFacts,
    ValuePerPrice,
    error_budgets,
    pnl_today,
)
from flows.supervisor import process_alive, read_state, state_path
from flows.worker_view import worker_status

PROBE_TIMEOUT_S = 1.0
EMBEDDED = "not running (embedded defaults)"
ALIASES = ("champion", "canary")


def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``url`` answers 2xx within the timeout, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (OSError, ValueError) as error:
        return str(getattr(error, "reason", error))


def stack_health(
    settings: TateSettings, check: Callable[[str], str | None] = probe
) -> list[Health]:
    """Prefect's API, MLflow's tracking server and the worker's /metrics: up, DOWN, or not
    running because this home uses the embedded defaults (no `tate up`, no server URL set)."""
    prefect = os.environ.get("PREFECT_API_URL") or (
        prefect_api_url(settings) if running_pid(settings, "prefect") else None
    )
    tracking = os.environ.get("MLFLOW_TRACKING_URI", "")
    mlflow = (
        tracking
        if tracking.startswith(("http://", "https://"))
        else mlflow_url(settings)
        if running_pid(settings, "mlflow")
        else None
    )
    state = read_state(state_path(settings.run_dir), process_alive)
    metrics = f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
    worker = metrics if state is not None or running_pid(settings, "worker") else None
    listed = [
        ("Prefect API", prefect, None if prefect is None else prefect.rstrip("/") + "/health"),
        ("MLflow", mlflow, None if mlflow is None else mlflow.rstrip("/") + "/health"),
        ("worker /metrics", worker, worker),
    ]
    with ThreadPoolExecutor(max_workers=len(listed)) as pool:
        answers = [None if url is None else pool.submit(check, url) for _, _, url in listed]
        found = []
        for (name, base, _), answer in zip(listed, answers, strict=True):
            if answer is None:
                where = (tracking or settings.mlflow_db_uri) if name == "MLflow" else "-"
                found.append(Health(name, where, EMBEDDED))
                continue
            problem = answer.result()
            found.append(
                Health(name, str(base), "up" if problem is None else "DOWN", problem or "")
            )
    return found


def read_registry(settings: TateSettings, mlflow_up: bool | None) -> RegistryFacts:
    """The aliases champion and canary with their versions' gate verdicts and risk
    fractions, and the registered model's halt tag.

    Args:
        mlflow_up: whether the tracking server answered (None: the home's SQLite store).
    """
    # flows.tracking.tracking_uri, without its imports (MLflow's) for a home with no registry
    uri = os.environ.get("MLFLOW_TRACKING_URI") or settings.mlflow_db_uri
    if mlflow_up is False:
        return RegistryFacts(settings.model_name, problem="MLflow does not answer: not read")
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return RegistryFacts(settings.model_name, problem="no registry yet (`tate train`)")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from serving.registry.source import halt_reason, risk_fraction

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        model = client.get_registered_model(settings.model_name)
        aliases = []
        for alias in ALIASES:
            version = model.aliases.get(alias)
            if version is None:
                continue
            tags = client.get_model_version(settings.model_name, str(version)).tags
            own = risk_fraction(tags)
            fraction = 1.0 if alias == "champion" else own or settings.canary_fraction
            aliases.append(
                AliasFacts(
                    alias,
                    str(version),
                    tags.get("gate", "-"),
                    tags.get("gate_reasons", ""),
                    fraction,
                )
            )
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return RegistryFacts(settings.model_name, problem="not registered yet (`tate train`)")
        return RegistryFacts(settings.model_name, problem=f"could not read: {error.message}")
    halted = halt_reason(model.tags)
    return RegistryFacts(
        settings.model_name, aliases, halted.split(": ", 1)[-1] if halted else None
    )


def last_verdicts(reports_dir: Path) -> list[LastVerdict]:
    """The newest validation and drift verdicts, each with the page to open."""
    newest = {}
    for entry in read_runs(reports_dir):
        if entry.kind in ("validation", "drift") and entry.kind not in newest:
            newest[entry.kind] = entry
    found = []
    for kind, entry in newest.items():
        folder = reports_dir / kind / entry.stamp
        path = folder / "report.html" if kind == "drift" else folder / "summary.json"
        if kind == "validation":
            path = Path(_data_docs(folder / "summary.json") or path)
        found.append(
            LastVerdict(kind, entry.stamp, entry.verdict, entry.good, entry.detail, str(path))
        )
    return found


def _data_docs(summary: Path) -> str | None:
    try:
        value = json.loads(summary.read_text()).get("data_docs_index")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def value_per_price(settings: TateSettings) -> ValuePerPrice:
    """Value of a 1.0 price move of one lot in an account currency, from each symbol's record
    (stored, the desk's ``symbols.toml``, or the built-in table; read on the first fill, as
    the records' module costs pandas' import)."""

    def value(symbol: str, price: float, currency: str) -> float | None:
        from data_contracts.symbol_records import BadSymbolSpecError, load_spec
        from data_contracts.symbols import (
            UnconvertibleCurrencyError,
            UnknownSymbolSpecError,
            to_account_currency,
        )

        try:
            spec = load_spec(settings.data_dir, symbol)
            return float(
                to_account_currency(
                    spec.trade_contract_size, spec.currency_profit, spec, price, currency
                )
            )
        except (UnknownSymbolSpecError, UnconvertibleCurrencyError, BadSymbolSpecError):
            return None

    return value


def gather(settings: TateSettings) -> StatusFacts:
    """Everything `tate status` shows."""
    health = stack_health(settings)
    mlflow = next(h for h in health if h.name == "MLflow")
    registry = read_registry(settings, None if mlflow.state == EMBEDDED else mlflow.state == "up")
    worker = worker_status(read_state(state_path(settings.run_dir), process_alive))
    engine = open_journal(settings.journal)
    accounts, pnl, budgets = [], [], []
    if engine is not None:
        accounts = read_status(engine)
        newest = {a.account: a.newest_bar for a in accounts}
        currencies = read_currencies(engine)  # journaled by each account's worker at start-up
        pnl = pnl_today(read_trades(engine), newest, value_per_price(settings), currencies)
        decisions, states = read_slo_rows(engine)
        budgets = error_budgets(
            decisions,
            states,
            window=timedelta(days=settings.slo_window_days),
            latency_threshold=settings.latency_slo_seconds,
            latency_target=settings.latency_slo_target,
            execution_target=settings.execution_slo_target,
        )
        engine.dispose()
    verdicts = last_verdicts(settings.reports_dir)
    return StatusFacts(health, worker, registry, accounts, pnl, budgets, verdicts)
