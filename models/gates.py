"""Promotion gate: may a candidate model replace (or join as canary) the champion?

A pure decision over metric dicts so a flow, the CLI and a person reading the MLflow UI see
the same reasons. A model must beat a coin flip out of fold, earn money after costs, and not
be meaningfully worse than the champion; a model trained on shuffled labels fails the first
two by construction. It must also be judged on enough folds, keep a deflated Sharpe (the
probability its Sharpe beats the best of its trials' luck) above a bar, and not hand most of
its gross edge to the broker: a thin edge eaten by costs dies with a slightly wider spread.
When a retraining chose among several configurations, the choice itself must not be a fit to
noise: the probability of backtest overfitting must stay below a bar.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateThresholds:
    """Minimums for a candidate, and how much worse than the champion it may be.

    Attributes:
        min_folds: walk-forward folds the OOF metrics must come from (``n_folds``).
        min_deflated_sharpe: the OOF deflated Sharpe (a probability) must exceed this.
        max_cost_share: costs may take at most this share of the gross PnL (``cost_share``).
        max_pbo: when several configurations were tried (``n_configurations`` > 1), the
            probability of backtest overfitting (``pbo``) must be below this; ``None`` skips
            the check. A chosen configuration no better than its rivals out of sample has a
            PBO near 0.5.
    """

    min_auc: float = 0.51
    min_sharpe_net: float = 0.0
    max_auc_drop: float = 0.01
    max_sharpe_drop: float = 0.5
    min_folds: int = 3
    min_deflated_sharpe: float = 0.95
    max_cost_share: float = 0.9
    max_pbo: float | None = 0.5


@dataclass(frozen=True)
class GateCheck:
    """One check of the gate as a table row: what was measured, the bar, and the verdict.

    ``rule`` says how value meets threshold (``>``, ``>=``, ``<``, ``<=``)."""

    name: str
    value: float
    rule: str
    threshold: float
    passed: bool


@dataclass(frozen=True)
class GateDecision:
    """``passed`` and one human-readable reason per check (failed ones first); ``checks`` the
    same checks as rows (in the order they ran) for a table a person reads."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[GateCheck] = field(default_factory=list)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _metric(metrics: Mapping[str, float], name: str) -> float:
    value = metrics.get(name, math.nan)
    return float(value) if value is not None else math.nan


def _cost_share_words(costs: float, limit: float) -> str:
    """The cost-share check in words; ``inf`` means there was no gross profit to share."""
    if math.isinf(costs):
        return (
            f"gross PnL is not positive: the model loses money before costs, so there is no "
            f"edge for costs to take a share of (at most {limit:.2f} allowed)"
        )
    if math.isnan(costs):
        return f"cost share of gross PnL is missing (at most {limit:.2f} allowed)"
    return f"costs take {costs:.2f} of gross PnL, at most {limit:.2f} allowed"


def failed_checks(decision: GateDecision) -> list[str]:
    """The reasons of the checks that failed, in the order the gate gave them."""
    return [reason for reason in decision.reasons if reason.startswith("FAIL")]


def decide_promotion(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    thresholds: GateThresholds | None = None,
) -> GateDecision:
    """Check the candidate's OOF metrics against minimums and the champion.

    Reads ``auc``, ``sharpe_net``, ``n_folds``, ``deflated_sharpe`` and ``cost_share`` of the
    candidate (as ``run_training`` reports them), and ``pbo`` when ``n_configurations`` says
    several were tried. A missing or NaN metric fails its check (no silent passes); every
    failed check has its own reason.
    """
    t = thresholds or GateThresholds()
    failed: list[str] = []
    passed: list[str] = []
    checks: list[GateCheck] = []

    def check(name: str, value: float, rule: str, threshold: float, message: str) -> None:
        ok = _COMPARE[rule](value, threshold)  # NaN compares False: a missing metric fails
        checks.append(GateCheck(name, value, rule, threshold, ok))
        (passed if ok else failed).append(("ok: " if ok else "FAIL: ") + message)

    auc, sharpe = _metric(candidate, "auc"), _metric(candidate, "sharpe_net")
    check("OOF AUC", auc, ">", t.min_auc, f"OOF AUC {auc:.4f} must exceed {t.min_auc:.4f}")
    check(
        "OOF net Sharpe",
        sharpe,
        ">",
        t.min_sharpe_net,
        f"OOF net Sharpe {sharpe:.2f} must exceed {t.min_sharpe_net:.2f}",
    )
    folds, dsr = _metric(candidate, "n_folds"), _metric(candidate, "deflated_sharpe")
    costs = _metric(candidate, "cost_share")
    check(
        "walk-forward folds",
        folds,
        ">=",
        t.min_folds,
        f"{folds:.0f} walk-forward folds, at least {t.min_folds} needed",
    )
    check(
        "OOF deflated Sharpe",
        dsr,
        ">",
        t.min_deflated_sharpe,
        f"OOF deflated Sharpe {dsr:.3f} must exceed {t.min_deflated_sharpe:.3f}",
    )
    check(
        "cost share of gross PnL",
        costs,
        "<=",
        t.max_cost_share,
        _cost_share_words(costs, t.max_cost_share),
    )
    tried = _metric(candidate, "n_configurations")
    if t.max_pbo is not None and tried > 1:
        pbo = _metric(candidate, "pbo")
        check(
            "PBO",
            pbo,
            "<",
            t.max_pbo,
            f"PBO {pbo:.2f} over {tried:.0f} configurations must be below {t.max_pbo:.2f}",
        )
    if champion is not None:
        champ_auc, champ_sharpe = _metric(champion, "auc"), _metric(champion, "sharpe_net")
        if not math.isnan(champ_auc):
            check(
                "OOF AUC vs champion",
                auc,
                ">=",
                champ_auc - t.max_auc_drop,
                f"OOF AUC {auc:.4f} vs champion {champ_auc:.4f} (may drop {t.max_auc_drop:.4f})",
            )
        if not math.isnan(champ_sharpe):
            check(
                "OOF net Sharpe vs champion",
                sharpe,
                ">=",
                champ_sharpe - t.max_sharpe_drop,
                f"OOF net Sharpe {sharpe:.2f} vs champion {champ_sharpe:.2f} "
                f"(may drop {t.max_sharpe_drop:.2f})",
            )
    return GateDecision(passed=not failed, reasons=failed + passed, checks=checks)
