"""Decisions shown to people: each flow's verdict as markdown, in `reports/` and in Prefect.

A flow that decides something (retrain's gate, validation, drift, the canary gate) says what it
decided and why in words a person reads without opening MLflow's tags: a `verdict.md` in its
dated run folder (the reports home links it) and, when a Prefect API is up, a markdown
artifact under a key named per flow (the UI's Artifacts tab keeps each key's history).
The builders here are pure (a verdict in, markdown out); `publish_verdict` is the only I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ARTIFACT_KEYS = {
    "training": "retrain-gate-verdict",
    "validation": "validation-verdict",
    "drift": "drift-verdict",
    "canary-gate": "canary-gate-verdict",
}
"""Prefect artifact key per flow (lower-case and dashes: what Prefect accepts as a key)."""

VERDICT_FILE = "verdict.md"


def _cell(value: object) -> str:
    """Text safe inside a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else f"{number:.4g}"


def mlflow_run_url(tracking_uri: str, experiment_id: str | None, run_id: str) -> str | None:
    """The run's page in the MLflow UI, when the tracking URI is a server a browser can open;
    without the URI's ``user:password@`` (a report is no place for a secret)."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or not experiment_id:
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    base = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def alias_words(alias: str | None, reasons: Sequence[str]) -> str:
    """What retrain did with aliases, in one phrase for its log line and its verdict: the alias
    set, or that the gate withheld one and the failed checks that made it (``reasons`` are the
    gate's, ``FAIL: …`` for a failed check)."""
    if alias:
        return f"alias {alias!r} set"
    failed = [r.removeprefix("FAIL: ") for r in reasons if r.startswith("FAIL")]
    why = "; ".join(failed)
    return f"no alias: the gate withheld it ({why or 'no reason recorded'})"


def training_markdown(verdict: Mapping[str, Any]) -> str:
    """Retrain's gate verdict: the version, the alias set or withheld and why, each check.

    Args:
        verdict: the training run's ``summary.json`` (``flows.train_flow.training_verdict``).
    """
    checks = verdict.get("checks", [])
    metrics = verdict.get("metrics", {})
    run = f"`{verdict.get('run_id', '?')}`"
    if verdict.get("run_url"):
        run = f"[{verdict.get('run_id')}]({verdict['run_url']})"
    lines = [
        f"# retrain: {verdict.get('model_name', '?')} v{verdict.get('version', '?')}: "
        f"gate {'passed' if verdict.get('gate_passed') else 'FAILED'}",
        "",
        f"- {alias_words(verdict.get('alias'), verdict.get('reasons', []))}",
        f"- judged against: {verdict.get('gate_against', '?')}",
        f"- strategy: {verdict.get('strategy', '?')}; symbols: {verdict.get('symbols', '?')}; "
        f"hold-out from {verdict.get('holdout_start', '?')}",
        f"- deflated Sharpe {_number(metrics.get('deflated_sharpe'))}, net Sharpe "
        f"{_number(metrics.get('sharpe_net'))}, AUC {_number(metrics.get('auc'))} (out of fold)",
        f"- MLflow run: {run}",
        "",
        "## gate checks",
        "",
        "| check | value | rule | threshold | result |",
        "|---|---:|:---:|---:|---|",
        *(
            f"| {_cell(c['name'])} | {_number(c['value'])} | {_cell(c['rule'])} | "
            f"{_number(c['threshold'])} | {'pass' if c['passed'] else '**FAIL**'} |"
            for c in checks
        ),
        "",
        "## reasons",
        "",
        *(f"- {reason}" for reason in verdict.get("reasons", [])),
    ]
    return "\n".join(lines) + "\n"


def drift_markdown(summary: Mapping[str, Any], halted: str | None, retrain: str | None) -> str:
    """Drift's verdict: flagged or not, halted or not and why, and the per-feature statistics.

    Args:
        summary: the drift run's ``summary.json``.
        halted: the halt reason when the flow halted the model, else None.
        retrain: the retraining flow run started after the halt, if any.
    """
    model = f"{summary.get('model_name', '?')} v{summary.get('version', '?')}"
    word = "HALTED" if halted else "FLAGGED" if summary.get("drifted") else "no drift"
    halt_reasons = summary.get("halt_reasons", [])
    if halted:
        action = f"halted: {halted}"
    elif halt_reasons:
        action = "not halted (report only), though these would halt: " + "; ".join(halt_reasons)
    else:
        action = "not halted: no key feature's PSI and no concept drift past its bar"
    lines = [
        f"# drift of {model}: {word}",
        "",
        f"- {action}",
        f"- retraining started: flow run `{retrain}`" if retrain else "- retraining: not started",
        f"- rows: reference {summary.get('rows_reference', '?')}, current "
        f"{summary.get('rows_current', '?')}",
        *(f"- {finding}" for finding in summary.get("findings", [])),
        "",
        "## features",
        "",
        "| feature | PSI | KS | Wasserstein | drifted |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {_cell(row.get('feature', row.get('index', '?')))} | {_number(row.get('psi'))} | "
            f"{_number(row.get('ks'))} | {_number(row.get('wasserstein'))} | "
            f"{'yes' if row.get('drifted') else 'no'} |"
            for row in summary.get("features", [])
        ),
    ]
    return "\n".join(lines) + "\n"


def publish_verdict(folder: Path, kind: str, markdown: str, description: str) -> Path:
    """`verdict.md` in the run's folder, and the same text as this flow's Prefect artifact
    (nothing in Prefect when no run is around: the file holds it)."""
    from flows.plain_runs import markdown_artifact  # Prefect: only where a flow publishes

    path = folder / VERDICT_FILE
    path.write_text(markdown, encoding="utf-8")
    markdown_artifact(key=ARTIFACT_KEYS[kind], markdown=markdown, description=description)
    return path
