"""Retrain's gate verdict where people look: `reports/training/<stamp>/` and Prefect.

MLflow holds the run and the tags the control plane reads; this is the same decision for a
person: `summary.json` (what the reports home reads), `verdict.md` (also the Prefect artifact
`retrain-gate-verdict`) and `equity.svg` (the version's out-of-fold equity, drawn locally so
the home works offline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flows import tracking
from flows.equity_svg import equity_svg
from flows.plain_runs import task
from flows.reports import run_folder, write_index, write_json
from flows.settings import TateSettings
from flows.verdicts import mlflow_run_url, publish_verdict, training_markdown
from models.training import TrainingOutcome

SHOWN_METRICS = ("auc", "sharpe_net", "sharpe_gross", "deflated_sharpe", "n_folds", "pbo")


def _finite_or_none(value: Any) -> Any:
    """NaN and infinities as null: ``summary.json`` stays JSON a browser's parser accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def training_verdict(
    model_name: str,
    outcome: TrainingOutcome,
    result: Mapping[str, Any],
    *,
    tracking_uri: str,
    at: datetime,
) -> dict[str, Any]:
    """The JSON record of one retrain's gate verdict (``result`` is ``log_and_register``'s)."""
    return {
        "kind": "training",
        "trained_at": at.isoformat(),
        "model_name": model_name,
        "version": str(result["version"]),
        "run_id": result["run_id"],
        "run_url": mlflow_run_url(tracking_uri, result.get("experiment_id"), result["run_id"]),
        "alias": result["alias"],
        "gate_passed": bool(result["gate_passed"]),
        "gate_against": result.get("gate_against", ""),
        "checks": [
            {k: _finite_or_none(v) for k, v in check.items()}
            for check in result.get("gate_checks", [])
        ],
        "reasons": list(result["gate_reasons"]),
        "metrics": {
            k: _finite_or_none(float(outcome.metrics[k]))
            for k in SHOWN_METRICS
            if k in outcome.metrics
        },
        "strategy": outcome.strategy.name,
        "symbols": ",".join(sorted(outcome.oof["symbol"].unique()))
        if "symbol" in outcome.oof
        else "",
        "holdout_start": outcome.holdout_start.isoformat(),
    }


@task
def publish_training_verdict(
    settings: TateSettings, outcome: TrainingOutcome, result: Mapping[str, Any], at: datetime
) -> Path:
    """Write the run folder, then rebuild the reports home; the verdict's path."""
    verdict = training_verdict(
        settings.model_name,
        outcome,
        result,
        tracking_uri=tracking.tracking_uri(settings),
        at=at,
    )
    folder = run_folder(settings.reports_dir, "training", at)
    curves = {
        column: outcome.equity[column].to_numpy()
        for column in ("equity_gross", "equity_net")
        if column in outcome.equity
    }
    title = f"{settings.model_name} v{verdict['version']}: out-of-fold equity"
    (folder / "equity.svg").write_text(equity_svg(curves, title), encoding="utf-8")
    write_json(folder / "summary.json", verdict)
    word = "alias " + verdict["alias"] if verdict["alias"] else "alias withheld"
    path = publish_verdict(
        folder,
        "training",
        training_markdown(verdict),
        f"retrain v{verdict['version']}: gate {'passed' if verdict['gate_passed'] else 'failed'}, "
        f"{word}",
    )
    write_index(settings.reports_dir)
    return path
