"""The canary's live evidence against the champion's, and what the gate makes of it.

Pure functions over journal rows (``serving.journal``'s ``decisions`` and ``order_events``
frames); the flow (``flows.canary_gate``) reads the journal and the registry and acts.

Why these rules:

- **Same bars, same account, counted once.** Only (account, symbol, bar time) keys where both
  versions decided are evidence: a canary that ran in a calm week is not compared with a
  champion that ran in a storm. When two accounts replayed the same bars (two simulated
  accounts, a restarted replay), each (symbol, bar time) is kept on one account only (the
  first by name), so a replay never counts twice; a bar decided twice on one account (a
  restart) is one decision.
- **Shadow is the canary.** On a netting account the canary trades a shadow terminal and its
  rows say role ``shadow``; they are its evidence.
- **Returns per unit of risk.** The canary trades a fraction of the champion's lots, so PnL
  cannot be compared. Each closed trade's return is taken per unit of notional held
  (``direction × (exit / entry − 1)``, from the journaled fill prices, spread and slippage
  included): a 0.05-lot and a 1-lot position of the same idea earn the same return.
- **A test that fits the question.** "Better" is a one-sided Welch t-test on those returns
  (trades are near-independent: each closes at its own fill); "worse" the other side.
  Slippage, order errors and latency are *non-inferiority* questions: the canary need not be
  better there, only not worse by more than a margin, judged on a one-sided upper bound.
- **A minimum sample.** Below it the answer is "hold", whatever the means say.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from models.slo import BudgetStatus

CANARY_ROLES = ("canary", "shadow")
FILLED_STATES = frozenset({"filled", "partial", "filled_reconciled", "partial_reconciled"})
ERROR_STATES = frozenset(
    {"unknown", "rejected", "operational", "absent"}
    | {f"{s}_reconciled" for s in ("unknown", "rejected", "operational")}
)
ORDER_TYPE_BUY = 0  # MT5's ORDER_TYPE_BUY (models may not import serving's constants)
KEY = ["account", "symbol", "bar_time"]


class GateOutcome(StrEnum):
    PROMOTE = "promote"
    WIDEN = "widen"
    HOLD = "hold"
    ROLLBACK = "rollback"
    FROZEN = "frozen"


@dataclass(frozen=True)
class GatePolicy:
    """The gate's thresholds (``flows.settings`` builds one from ``TATE_GATE_*``).

    Attributes:
        min_bars: bars both versions decided on, below which the gate holds.
        min_trades: closed trades *each* version needs, below which the gate holds.
        alpha: one-sided significance of "better" and "worse".
        slippage_margin_points: how much more slippage per fill (points) the canary may have.
        error_rate_margin: how much higher a share of its orders may end in error.
        latency_margin_seconds: how much slower its p95 decision latency may be.
        stages: the canary's risk fractions, widened in this order; past the last: promote.
    """

    min_bars: int = 100
    min_trades: int = 30
    alpha: float = 0.05
    slippage_margin_points: float = 1.0
    error_rate_margin: float = 0.01
    latency_margin_seconds: float = 0.05
    stages: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50)


@dataclass(frozen=True)
class ArmEvidence:
    """One version's numbers over the matched bars."""

    decisions: int
    trades: int
    mean_return: float
    orders: int
    fills: int
    errors: int
    fill_rate: float
    error_rate: float
    mean_slippage_points: float
    slippage_vs_expected_points: float
    latency_p95_seconds: float
    returns: NDArray[np.float64] = field(repr=False, compare=False)
    slippages: NDArray[np.float64] = field(repr=False, compare=False)

    def numbers(self) -> dict[str, float]:
        """The figures, for tags, runs and reports (the raw samples left out)."""
        found = asdict(self)
        return {k: float(v) for k, v in found.items() if k not in ("returns", "slippages")}


@dataclass(frozen=True)
class Evidence:
    champion: ArmEvidence
    canary: ArmEvidence
    bars: int  # matched (account, symbol, bar time) keys
    last_bar_time: pd.Timestamp | None


@dataclass(frozen=True)
class GateDecision:
    outcome: GateOutcome
    reasons: tuple[str, ...]
    numbers: dict[str, float]
    fraction: float  # the canary's risk fraction after the decision (0 when dropped)


def _dedupe_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    order = decisions.sort_values(["bar_time", "account", "symbol"], kind="stable")
    return order.drop_duplicates(subset=["arm", *KEY], keep="first")


def match_decisions(
    decisions: pd.DataFrame, champion_version: str, canary_version: str, model_name: str
) -> pd.DataFrame:
    """Decisions of both versions on the same bars of the same account, each bar once.

    Args:
        decisions: journal decisions (``Journal.read_decisions``), any roles and accounts.
    Returns:
        the kept rows with an ``arm`` column (``champion`` | ``canary``).
    """
    rows = decisions[decisions["model_name"] == model_name]
    version = rows["model_version"].astype(str)
    champion = rows[(rows["role"] == "champion") & (version == str(champion_version))]
    canary = rows[rows["role"].isin(CANARY_ROLES) & (version == str(canary_version))]
    both = pd.concat([champion.assign(arm="champion"), canary.assign(arm="canary")])
    both = _dedupe_decisions(both)
    arms = both.groupby(KEY)["arm"].transform("nunique")
    both = both[arms == 2]
    first_account = both.groupby(["symbol", "bar_time"])["account"].transform("min")
    return both[both["account"] == first_account].reset_index(drop=True)


def signed_volume(request: Any, volume: float) -> float:
    """A fill's volume, positive for a buy (the request's ``type``)."""
    kind = request.get("type") if isinstance(request, dict) else None
    return volume if kind == ORDER_TYPE_BUY else -volume


def trade_returns(volumes: Sequence[float], prices: Sequence[float]) -> NDArray[np.float64]:
    """Returns per unit of notional of the trades a sequence of signed fills closes.

    The fills are one version's on one symbol and account, in order; each fill that reduces
    or reverses the position closes a trade against the average entry price.
    """
    position, entry, returns = 0.0, 0.0, []
    for qty, price in zip(volumes, prices, strict=True):
        if abs(qty) < 1e-12 or price <= 0:
            continue
        if abs(position) < 1e-12 or math.copysign(1, qty) == math.copysign(1, position):
            entry = (entry * abs(position) + price * abs(qty)) / (abs(position) + abs(qty))
            position += qty
            continue
        returns.append(math.copysign(1, position) * (price / entry - 1.0))
        flipped = abs(qty) > abs(position) + 1e-12
        position += qty
        if flipped:
            entry = price
        elif abs(position) < 1e-12:
            position, entry = 0.0, 0.0
    return np.asarray(returns, dtype=np.float64)


def _arm_evidence(
    decisions: pd.DataFrame, events: pd.DataFrame, expected_slippage_points: float
) -> ArmEvidence:
    where = decisions.drop_duplicates("intent_id").set_index("intent_id")
    mine = events[events["intent_id"].isin(where.index)]
    # an event's book is its decision's (account, symbol)
    mine = mine.assign(
        book_account=mine["intent_id"].map(where["account"]),
        book_symbol=mine["intent_id"].map(where["symbol"]),
    )
    filled = mine[mine["state"].isin(FILLED_STATES)]
    returns: list[NDArray[np.float64]] = []
    for _, fills in filled.groupby(["book_account", "book_symbol"], sort=True):
        volumes = [
            signed_volume(r, v) for r, v in zip(fills["request"], fills["volume"], strict=True)
        ]
        returns.append(trade_returns(volumes, fills["price"].tolist()))
    sample = np.concatenate(returns) if returns else np.empty(0)
    slippages = filled["slippage_points"].to_numpy(dtype=np.float64)
    orders, fills_n = len(mine), len(filled)
    errors = int(mine["state"].isin(ERROR_STATES).sum())
    column = decisions["latency_seconds"] if "latency_seconds" in decisions else pd.Series()
    latency = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=np.float64)
    mean_slip = float(slippages.mean()) if len(slippages) else 0.0
    return ArmEvidence(
        decisions=len(decisions),
        trades=len(sample),
        mean_return=float(sample.mean()) if len(sample) else 0.0,
        orders=orders,
        fills=fills_n,
        errors=errors,
        fill_rate=fills_n / orders if orders else 1.0,
        error_rate=errors / orders if orders else 0.0,
        mean_slippage_points=mean_slip,
        slippage_vs_expected_points=mean_slip - expected_slippage_points,
        latency_p95_seconds=float(np.quantile(latency, 0.95)) if len(latency) else 0.0,
        returns=sample,
        slippages=slippages,
    )


def collect_evidence(
    decisions: pd.DataFrame,
    order_events: pd.DataFrame,
    *,
    model_name: str,
    champion_version: str,
    canary_version: str,
    since: pd.Timestamp | None = None,
    expected_slippage_points: float = 0.0,
) -> Evidence:
    """Both versions' evidence over the bars they share (after ``since``, when given).

    Args:
        order_events: journal order events (``Journal.read_order_events``); an event belongs
            to the decision whose ``intent_id`` it carries.
        expected_slippage_points: what the cost model expects per fill (``models.costs``).
    """
    matched = match_decisions(decisions, champion_version, canary_version, model_name)
    if since is not None:
        matched = matched[matched["bar_time"] > since]
    arms = {
        arm: _arm_evidence(matched[matched["arm"] == arm], order_events, expected_slippage_points)
        for arm in ("champion", "canary")
    }
    last = matched["bar_time"].max() if len(matched) else None
    bars = len(matched.drop_duplicates(subset=KEY))
    return Evidence(arms["champion"], arms["canary"], bars, None if pd.isna(last) else last)


def welch_p_value(a: NDArray[np.float64], b: NDArray[np.float64], alternative: str) -> float:
    """One-sided Welch t-test of mean(a) against mean(b) (``greater`` or ``less``)."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    result = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    p = float(result.pvalue)
    return 1.0 if math.isnan(p) else p


def mean_difference_bounds(
    a: NDArray[np.float64], b: NDArray[np.float64], alpha: float
) -> tuple[float, float]:
    """One-sided (1 − alpha) lower and upper bounds of mean(a) − mean(b) (Welch)."""
    if len(a) < 2 or len(b) < 2:
        return -math.inf, math.inf
    diff = float(a.mean() - b.mean())
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff
    dof = (va + vb) ** 2 / ((va**2) / (len(a) - 1) + (vb**2) / (len(b) - 1))
    half = float(stats.t.ppf(1 - alpha, dof)) * se
    return diff - half, diff + half


def rate_difference_bounds(
    errors_a: int, n_a: int, errors_b: int, n_b: int, alpha: float
) -> tuple[float, float]:
    """One-sided lower and upper bounds of rate(a) − rate(b) (Wald; the rates in the standard
    error shrunk by a pseudo-count, so zero errors on both sides still has a width)."""
    if n_a == 0 or n_b == 0:
        return -math.inf, math.inf
    pa, pb = (errors_a + 0.5) / (n_a + 1), (errors_b + 0.5) / (n_b + 1)
    half = float(stats.norm.ppf(1 - alpha)) * math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    diff = errors_a / n_a - errors_b / n_b
    return diff - half, diff + half


def next_stage(fraction: float, stages: Sequence[float]) -> float | None:
    """The first stage above ``fraction``, or None when the canary is at (or past) the last."""
    return next((s for s in stages if s > fraction + 1e-9), None)


def decide(
    evidence: Evidence,
    *,
    fraction: float,
    policy: GatePolicy,
    budgets: Sequence[BudgetStatus] = (),
) -> GateDecision:
    """Promote, widen, hold, roll back — or "frozen" while an error budget is spent.

    Rollback is judged first and is never frozen: a worse canary leaves whatever the budgets.
    """
    champ, canary, a = evidence.champion, evidence.canary, policy.alpha
    numbers: dict[str, float] = {"bars": float(evidence.bars), "fraction": fraction}
    numbers |= {f"champion_{k}": v for k, v in champ.numbers().items()}
    numbers |= {f"canary_{k}": v for k, v in canary.numbers().items()}
    for budget in budgets:
        numbers[f"budget_{budget.name}_remaining"] = budget.remaining
    short = [
        f"{evidence.bars} matched bars < {policy.min_bars}"
        if evidence.bars < policy.min_bars
        else "",
        *(
            f"{arm} has {e.trades} closed trades < {policy.min_trades}"
            for arm, e in (("champion", champ), ("canary", canary))
            if e.trades < policy.min_trades
        ),
    ]
    short = [s for s in short if s]
    if short:
        return GateDecision(
            GateOutcome.HOLD, ("not enough evidence: " + "; ".join(short),), numbers, fraction
        )
    p_better = welch_p_value(canary.returns, champ.returns, "greater")
    p_worse = welch_p_value(canary.returns, champ.returns, "less")
    slip_low, slip_high = mean_difference_bounds(canary.slippages, champ.slippages, a)
    err_low, err_high = rate_difference_bounds(
        canary.errors, canary.orders, champ.errors, champ.orders, a
    )
    latency_excess = canary.latency_p95_seconds - champ.latency_p95_seconds
    numbers |= {
        "p_better": p_better,
        "p_worse": p_worse,
        "slippage_difference_upper_points": slip_high,
        "error_rate_difference_upper": err_high,
        "latency_p95_excess_seconds": latency_excess,
    }
    # worse, shown: beyond the margin and significantly above zero -> roll back
    worse = []
    if p_worse < a:
        worse.append(f"returns worse than the champion's (Welch p={p_worse:.4g} < {a})")
    slip_margin, err_margin = policy.slippage_margin_points, policy.error_rate_margin
    if slip_low > 0 and slip_high - slip_low > 0 and (slip_low + slip_high) / 2 > slip_margin:
        worse.append(f"slippage +{(slip_low + slip_high) / 2:.2f} points > margin {slip_margin}")
    if err_low > 0 and (err_low + err_high) / 2 > err_margin:
        worse.append(
            f"order-error rate +{(err_low + err_high) / 2:.4f} > margin {err_margin} "
            f"(significant: lower bound {err_low:.4f})"
        )
    if latency_excess > policy.latency_margin_seconds:
        worse.append(
            f"p95 latency {latency_excess * 1000:.1f} ms slower > margin "
            f"{policy.latency_margin_seconds * 1000:.0f} ms"
        )
    if worse:
        return GateDecision(GateOutcome.ROLLBACK, tuple(worse), numbers, 0.0)
    # not yet shown non-inferior (the upper bound still above the margin) -> hold
    unproven = []
    if slip_high > slip_margin:
        unproven.append(f"slippage upper bound +{slip_high:.2f} points > margin {slip_margin}")
    if err_high > err_margin:
        unproven.append(f"order-error rate upper bound +{err_high:.4f} > margin {err_margin}")
    if unproven:
        return GateDecision(
            GateOutcome.HOLD,
            ("not yet shown non-inferior: " + "; ".join(unproven),),
            numbers,
            fraction,
        )
    if p_better >= a:
        return GateDecision(
            GateOutcome.HOLD,
            (f"not better yet (Welch p={p_better:.4g} >= {a}); non-inferior elsewhere",),
            numbers,
            fraction,
        )
    spent = [b for b in budgets if b.spent]
    if spent:
        why = "; ".join(b.describe() for b in spent)
        return GateDecision(
            GateOutcome.FROZEN,
            (f"better (p={p_better:.4g}) but an error budget is spent: {why}",),
            numbers,
            fraction,
        )
    stage = next_stage(fraction, policy.stages)
    better = f"better (Welch p={p_better:.4g} < {a}), non-inferior on slippage, errors, latency"
    if stage is not None:
        return GateDecision(GateOutcome.WIDEN, (f"{better}: widen to {stage:.0%}",), numbers, stage)
    return GateDecision(
        GateOutcome.PROMOTE, (f"{better} at {fraction:.0%}: promote",), numbers, 1.0
    )
