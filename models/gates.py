"""Promotion gate: may a candidate model replace (or join as canary) the champion?

A pure decision over metric dicts so a flow, the CLI and a person reading the MLflow UI see
the same reasons. A model must beat a coin flip out of fold, earn money after costs, and not
be meaningfully worse than the champion; a model trained on shuffled labels fails the first
two by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateThresholds:
    """Minimums for a candidate, and how much worse than the champion it may be."""

    min_auc: float = 0.51
    min_sharpe_net: float = 0.0
    max_auc_drop: float = 0.01
    max_sharpe_drop: float = 0.5


@dataclass(frozen=True)
class GateDecision:
    """``passed`` and one human-readable reason per check (failed ones first)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)


def _metric(metrics: Mapping[str, float], name: str) -> float:
    value = metrics.get(name, math.nan)
    return float(value) if value is not None else math.nan


def decide_promotion(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    thresholds: GateThresholds | None = None,
) -> GateDecision:
    """Check OOF ``auc`` and ``sharpe_net`` of the candidate against minimums and the champion.

    A missing or NaN metric fails its check (no silent passes).
    """
    t = thresholds or GateThresholds()
    failed: list[str] = []
    passed: list[str] = []

    def check(ok: bool, message: str) -> None:
        (passed if ok else failed).append(("ok: " if ok else "FAIL: ") + message)

    auc, sharpe = _metric(candidate, "auc"), _metric(candidate, "sharpe_net")
    check(auc > t.min_auc, f"OOF AUC {auc:.4f} must exceed {t.min_auc:.4f}")
    check(
        sharpe > t.min_sharpe_net, f"OOF net Sharpe {sharpe:.2f} must exceed {t.min_sharpe_net:.2f}"
    )
    if champion is not None:
        champ_auc, champ_sharpe = _metric(champion, "auc"), _metric(champion, "sharpe_net")
        if not math.isnan(champ_auc):
            check(
                auc >= champ_auc - t.max_auc_drop,
                f"OOF AUC {auc:.4f} vs champion {champ_auc:.4f} (may drop {t.max_auc_drop:.4f})",
            )
        if not math.isnan(champ_sharpe):
            check(
                sharpe >= champ_sharpe - t.max_sharpe_drop,
                f"OOF net Sharpe {sharpe:.2f} vs champion {champ_sharpe:.2f} "
                f"(may drop {t.max_sharpe_drop:.2f})",
            )
    return GateDecision(passed=not failed, reasons=failed + passed)
