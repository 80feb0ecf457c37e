"""`tate demo`: the whole lifecycle once, on embedded defaults, then where every artifact is.

Each stage is its own Prefect flow run when `tate up` runs (visible in its UI), else the plain
function the flow wraps (`flows.plain_runs`: no temporary server per stage). Running the demo
again adds a model version; when it passes the gate it becomes `canary` and trades beside the champion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import typer

from flows import tracking
from flows.settings import TateSettings


def _stage(title: str, call: Callable[[], Any]) -> Any:
    typer.echo(f"── {title}")
    started = time.perf_counter()
    result = call()
    typer.echo(f"   done in {time.perf_counter() - started:.1f} s")
    return result


def planted_words(settings: TateSettings) -> str | None:
    """Why a fresh demo flags drift: its synthetic market changes regime on purpose."""
    from data_contracts.synthetic import planted_regime_change

    when = planted_regime_change(settings.data_dir)
    if when is None:
        return None
    return (
        "(expected: the synthetic market has a regime change planted at "
        f"{when:%Y-%m-%d %H:%M} UTC; the report's header says so too)"
    )


def open_ui_hints(settings: TateSettings) -> list[str]:
    """How to open the UIs after the demo, on the ports the settings chose, with the lines
    that let Prefect's and MLflow's own CLIs see tate's servers."""
    from flows.stack import HOST, client_exports, mlflow_url

    metrics = f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
    return [
        f"  tate up          # Prefect UI http://{HOST}:{settings.prefect_port}, "
        f"MLflow UI {mlflow_url(settings)}, worker {metrics}",
        *[f"  {line}" for line in client_exports(settings)],
        f"  or only MLflow:  mlflow ui --backend-store-uri {settings.mlflow_db_uri} "
        f"--host {HOST} --port {settings.mlflow_port}",
        "  tate down        # stop them",
    ]


def run_demo() -> dict[str, Any]:
    from flows.data_flows import ingest, validate
    from flows.drift_flow import drift_report
    from flows.plain_runs import run_flow
    from flows.serve import run_worker
    from flows.train_flow import retrain

    settings = TateSettings()
    _stage("1/5 data: synthetic market → bar store", lambda: run_flow(ingest, source="sim"))
    checked = _stage(
        "2/5 validate: great-expectations suites + survivorship", lambda: run_flow(validate)
    )
    trained = _stage(
        "3/5 train: purged walk-forward CV, backtest, MLflow run, registry",
        lambda: run_flow(retrain),
    )
    served = _stage(
        "4/5 serve: champion/canary replay the hold-out on SimTerminal",
        lambda: run_worker(
            settings, terminal="sim", max_bars=None, pace_seconds=0.0, metrics_port=0
        ),
    )
    # The demo market's regime change is planted to show the report; halting the model here
    # would stop the next demo's replay, so the demo reports what `tate drift` would act on.
    drifted = _stage(
        "5/5 drift: Evidently report + PSI/KS/Wasserstein, prediction and concept drift",
        lambda: run_flow(drift_report, act=False),
    )

    planted = planted_words(settings)
    uri = tracking.tracking_uri(settings)
    experiment_id = tracking.use_experiment(settings)
    lines = [
        "",
        "tate demo finished. Where everything is:",
        f"  data store      {settings.data_dir}",
        f"  Data Docs       {checked['data_docs']}",
        f"  validation      {checked['summary']}",
        f"  MLflow run      {trained['run_id']} (experiment {experiment_id}) in {uri}",
        f"  model version   {settings.model_name} v{trained['version']} → alias {trained['alias'] or 'none'}"
        f" (gate {'passed' if trained['gate_passed'] else 'failed'})",
        f"  journal         {settings.journal_label} ({served})",
        f"  drift report    {drifted['report']} ({'drift FLAGGED' if drifted['drifted'] else 'no drift'})",
        *([f"                  {planted}"] if planted else []),
        *(
            [f"                  `tate drift` would halt: {'; '.join(drifted['halt_reasons'])}"]
            if drifted["halt_reasons"]
            else []
        ),
        f"  all reports     {settings.reports_dir / 'index.html'}",
        "",
        "Open the UIs:",
        *open_ui_hints(settings),
    ]
    for line in lines:
        typer.echo(line)
    return {"validate": checked, "train": trained, "serve": served, "drift": drifted}
