"""The canary gate: the canary's live evidence against the champion's, then act on the registry.

Reads the journal (never writes it: it is the worker's) and the registry as it finds it;
decides with ``models.canary_evidence`` and the error budgets of ``models.slo``; then
promotes, widens, holds or rolls back through ``flows.tracking``. Every decision is kept
three ways: ``tate.gate.*`` tags on both versions, an MLflow run ``canary-gate``, and a
markdown report under ``TATE_HOME/reports/canary-gate/<stamp>/`` (a Prefect artifact too when
the flow runs under an API).

A person's alias change is respected. MLflow keeps no alias history, so after each decision
the gate records the aliases it left on the registered model (``tate.gate.left_aliases``);
when it next finds them different, a person moved them: it records that
(``tate.gate.hand_moved``), changes nothing, and takes the new aliases as its starting point.

Time is the journal's: the SLO window and the evidence end at the newest bar journaled, so a
replay of 2024's bars is judged on its own clock, as live trading is on today's.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from prefect import flow

from flows import canary_registry, tracking
from flows.plain_runs import markdown_artifact, run_logger
from flows.reports import run_folder, write_index, write_json
from flows.settings import TateSettings
from flows.stale_runs import skip_if_stale
from flows.verdicts import ARTIFACT_KEYS
from models.canary_evidence import (
    CANARY_ROLES,
    Evidence,
    GateDecision,
    GateOutcome,
    collect_evidence,
    decide,
)
from models.costs import CostModel
from models.slo import BudgetStatus, execution_budget, latency_budget
from serving.journal import Journal
from serving.registry.source import risk_fraction

logger = logging.getLogger(__name__)

GATE_BY = "canary-gate"


@dataclass
class GateResult:
    """What one gate run found and did."""

    outcome: str
    reasons: list[str]
    champion: str | None
    canary: str | None
    numbers: dict[str, float] = field(default_factory=dict)
    budgets: list[str] = field(default_factory=list)
    report: str | None = None
    run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_journal(settings: TateSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decisions and order events, read only (the worker owns the journal)."""
    journal = Journal(settings.journal)
    try:
        return journal.read_decisions(), journal.read_order_events()
    finally:
        journal.close()


def in_window(
    decisions: pd.DataFrame, events: pd.DataFrame, days: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of the rolling window that ends at the newest journaled bar."""
    if decisions.empty:
        return decisions, events
    start = decisions["bar_time"].max() - timedelta(days=days)
    return decisions[decisions["bar_time"] > start], events[events["at"] > start]


def role_budgets(
    settings: TateSettings, decisions: pd.DataFrame, events: pd.DataFrame, versions: dict[str, str]
) -> list[BudgetStatus]:
    """Each trading role's execution and latency budgets over the window (the same
    arithmetic as the Prometheus recording rules, on the journal's rows)."""
    budgets = []
    for role, version in versions.items():
        roles = ("champion",) if role == "champion" else CANARY_ROLES
        mine = decisions[
            decisions["role"].isin(roles) & (decisions["model_version"].astype(str) == version)
        ]
        states = events.loc[events["intent_id"].isin(set(mine["intent_id"])), "state"]
        budgets.append(execution_budget(states, settings.execution_slo_target, f"{role} execution"))
        latency = mine["latency_seconds"] if "latency_seconds" in mine else pd.Series()
        budgets.append(
            latency_budget(
                pd.to_numeric(latency, errors="coerce").to_numpy(dtype=float),
                settings.latency_slo_seconds,
                settings.latency_slo_target,
                f"{role} latency",
            )
        )
    return budgets


def hand_move(tags: dict[str, str], aliases: dict[str, str]) -> str | None:
    """What a person changed since the gate's last decision, or None."""
    left = tags.get(canary_registry.LEFT_ALIASES_TAG)
    found = canary_registry.format_aliases(aliases)
    if left is None or left == found:
        return None
    return f"aliases moved by hand: the gate left {left or 'none'}, found {found or 'none'}"


def current_fraction(settings: TateSettings, canary: str) -> float:
    tags = tracking.model_version(settings, canary).tags
    found = risk_fraction(tags)
    return settings.canary_fraction if found is None else found


def apply_decision(
    settings: TateSettings, decision: GateDecision, champion: str, canary: str, evidence: Evidence
) -> None:
    """The registry effect of a decision (hold and frozen change nothing)."""
    why = "; ".join(decision.reasons)
    if decision.outcome is GateOutcome.PROMOTE:
        canary_registry.promote_canary(settings, canary, by=GATE_BY, why=why)
    elif decision.outcome is GateOutcome.WIDEN:
        since = "" if evidence.last_bar_time is None else evidence.last_bar_time.isoformat()
        canary_registry.widen_canary(settings, canary, decision.fraction, since)
    elif decision.outcome is GateOutcome.ROLLBACK:
        canary_registry.drop_canary(settings, canary, why, by=GATE_BY)


def markdown_report(result: GateResult, at: datetime) -> str:
    lines = [
        f"# canary gate: {result.outcome}",
        "",
        f"- at: {at.isoformat()}",
        f"- champion: v{result.champion}  canary: v{result.canary}",
        *(f"- {reason}" for reason in result.reasons),
        "",
        "## error budgets (rolling window, from the journal)",
        "",
        *(f"- {b}" for b in result.budgets),
        "",
        "## numbers",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {k} | {v:.6g} |" for k, v in sorted(result.numbers.items())),
    ]
    return "\n".join(lines) + "\n"


def record(settings: TateSettings, result: GateResult, at: datetime) -> GateResult:
    """The report folder, the MLflow run and the tags on both versions."""
    folder = run_folder(settings.reports_dir, "canary-gate", at)
    report = folder / "report.md"
    result.report = str(report)
    report.write_text(markdown_report(result, at))
    write_json(folder / "decision.json", result.as_dict())
    write_index(settings.reports_dir)  # the reports home shows the newest gate decision
    tracking.use_experiment(settings)
    with mlflow.start_run(run_name="canary-gate") as run:
        mlflow.set_tags(
            {
                "tate.kind": "canary-gate",
                "tate.gate.outcome": result.outcome,
                "tate.gate.champion": result.champion or "",
                "tate.gate.canary": result.canary or "",
            }
        )
        finite = {k: v for k, v in result.numbers.items() if math.isfinite(v)}
        if finite:
            mlflow.log_metrics(finite)
        mlflow.log_artifact(str(report), artifact_path="canary-gate")
    result.run_id = run.info.run_id
    versions = [v for v in (result.champion, result.canary) if v]
    canary_registry.tag_gate_decision(
        settings,
        versions,
        {
            f"{canary_registry.GATE_TAG}.outcome": result.outcome,
            f"{canary_registry.GATE_TAG}.at": at.isoformat(),
            f"{canary_registry.GATE_TAG}.reasons": "; ".join(result.reasons),
            f"{canary_registry.GATE_TAG}.numbers": json.dumps(result.numbers, default=str),
            f"{canary_registry.GATE_TAG}.run_id": run.info.run_id,
            f"{canary_registry.GATE_TAG}.champion": result.champion or "",
            f"{canary_registry.GATE_TAG}.canary": result.canary or "",
        },
    )
    return result


def run_gate(settings: TateSettings, *, now: datetime | None = None) -> GateResult:
    """One gate decision on the registry and journal as found; returns what it did."""
    at = now or datetime.now(UTC)
    aliases, tags = canary_registry.registry_aliases(settings)
    champion, canary = aliases.get(tracking.CHAMPION), aliases.get(tracking.CANARY)
    moved = hand_move(tags, aliases)
    if moved is not None:
        logger.warning("%s; left as they are", moved)
        canary_registry.record_hand_move(
            settings, tags.get(canary_registry.LEFT_ALIASES_TAG, ""), canary_registry.format_aliases(aliases),
            at.isoformat(),
        )  # fmt: skip
        result = GateResult(
            GateOutcome.HOLD.value, [f"{moved}; left as they are"], champion, canary
        )
        canary_registry.record_left_aliases(settings, aliases)
        return record(settings, result, at) if aliases else result
    if champion is None or canary is None:
        missing = [a for a, v in (("champion", champion), ("canary", canary)) if v is None]
        reason = f"nothing to gate: model {settings.model_name!r} has no {' and no '.join(missing)}"
        if aliases:
            canary_registry.record_left_aliases(settings, aliases)
        return GateResult(GateOutcome.HOLD.value, [reason], champion, canary)
    decisions, events = read_journal(settings)
    decisions, events = in_window(decisions, events, settings.slo_window_days)
    budgets = role_budgets(settings, decisions, events, {"champion": champion, "canary": canary})
    for budget in budgets:
        logger.info("error budget %s", budget.describe())
    since_text = tracking.model_version(settings, canary).tags.get(canary_registry.STAGE_SINCE_TAG)
    evidence = collect_evidence(
        decisions,
        events,
        model_name=settings.model_name,
        champion_version=champion,
        canary_version=canary,
        since=pd.Timestamp(since_text) if since_text else None,
        expected_slippage_points=CostModel().slippage_fixed_points,
    )
    fraction = current_fraction(settings, canary)
    decision = decide(evidence, fraction=fraction, policy=settings.gate_policy(), budgets=budgets)
    apply_decision(settings, decision, champion, canary, evidence)
    after, _ = canary_registry.registry_aliases(settings)
    canary_registry.record_left_aliases(settings, after)
    result = GateResult(
        decision.outcome.value,
        list(decision.reasons),
        champion,
        canary,
        numbers={**decision.numbers, "fraction_after": decision.fraction},
        budgets=[b.describe() for b in budgets],
    )
    logger.info("canary gate: %s (%s)", result.outcome, "; ".join(result.reasons))
    return record(settings, result, at)


@flow(name="canary-gate")
def canary_gate() -> dict[str, Any]:
    """Compare canary with champion on the journal; promote, widen, hold or roll back."""
    if skipped := skip_if_stale("canary-gate", datetime.now(UTC), run_logger()):
        return skipped
    settings = TateSettings()
    result = run_gate(settings)
    run_logger().info("canary gate: %s: %s", result.outcome, "; ".join(result.reasons))
    if result.report:
        markdown_artifact(
            markdown=Path(result.report).read_text(),
            key=ARTIFACT_KEYS["canary-gate"],
            description=f"canary gate: {result.outcome}",
        )
    return result.as_dict()
