"""The canary gate's pure statistics: evidence from journal rows, the tests, the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.canary_evidence import (
    ArmEvidence,
    Evidence,
    GateOutcome,
    GatePolicy,
    collect_evidence,
    decide,
    match_decisions,
    next_stage,
    rate_difference_bounds,
    trade_returns,
    welch_p_value,
)
from models.slo import BudgetStatus

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MODEL = "m"


def decision(role: str, version: str, hour: int, *, account: str = "1@sim", symbol: str = "EURUSD"):
    return {
        "bar_time": pd.Timestamp(T0 + timedelta(hours=hour)),
        "symbol": symbol,
        "role": role,
        "model_name": MODEL,
        "model_version": version,
        "account": account,
        "intent_id": f"{role}-{version}-{symbol}-{hour}-{account}",
        "latency_seconds": 0.001,
    }


def fill(intent_id: str, buy: bool, price: float, volume: float = 1.0, **extra: object):
    return {
        "intent_id": intent_id,
        "request": {"type": 0 if buy else 1, "volume": volume},
        "state": extra.pop("state", "filled"),
        "price": price,
        "volume": volume,
        "slippage_points": extra.pop("slippage_points", 0.0),
        "at": pd.Timestamp(T0),
    }


def test_trade_returns_are_per_unit_of_notional_whatever_the_size() -> None:
    long_then_close = trade_returns([1.0, -1.0], [100.0, 110.0])
    short_then_close = trade_returns([-1.0, 1.0], [100.0, 90.0])
    small = trade_returns([0.05, -0.05], [100.0, 110.0])
    assert long_then_close.tolist() == pytest.approx([0.1])
    assert short_then_close.tolist() == pytest.approx([0.1])
    assert small.tolist() == pytest.approx(long_then_close.tolist())


def test_a_reversal_closes_one_trade_and_opens_the_next_at_its_price() -> None:
    # long 1 @100, sell 2 @110 (close +10 %, short 1 @110), buy 1 @99 (close +10 %)
    returns = trade_returns([1.0, -2.0, 1.0], [100.0, 110.0, 99.0])
    assert returns.tolist() == pytest.approx([0.1, 0.1])


def test_only_bars_both_versions_decided_on_the_same_account_are_evidence() -> None:
    rows = [decision("champion", "1", h) for h in range(5)]
    rows += [decision("canary", "2", h) for h in range(3, 8)]
    matched = match_decisions(pd.DataFrame(rows), "1", "2", MODEL)
    assert sorted(matched["bar_time"].dt.hour.unique()) == [3, 4]
    assert len(matched) == 4


def test_shadow_rows_are_the_canarys_evidence_on_a_netting_account() -> None:
    rows = [decision("champion", "1", h) for h in range(3)]
    rows += [decision("shadow", "2", h) for h in range(3)]
    matched = match_decisions(pd.DataFrame(rows), "1", "2", MODEL)
    assert (matched["arm"] == "canary").sum() == 3


def test_two_replays_of_the_same_bars_are_counted_once() -> None:
    rows = []
    for account in ("1@sim", "2@sim"):  # two simulated accounts replaying the same bars
        rows += [decision("champion", "1", h, account=account) for h in range(4)]
        rows += [decision("canary", "2", h, account=account) for h in range(4)]
    rows.append(decision("canary", "2", 0, account="1@sim"))  # a restart re-decided bar 0
    matched = match_decisions(pd.DataFrame(rows), "1", "2", MODEL)
    assert len(matched) == 8
    assert set(matched["account"]) == {"1@sim"}


def test_another_models_rows_are_ignored() -> None:
    rows = [decision("champion", "1", h) for h in range(3)]
    rows += [{**decision("canary", "2", h), "model_name": "other"} for h in range(3)]
    assert match_decisions(pd.DataFrame(rows), "1", "2", MODEL).empty


def test_evidence_counts_fills_errors_slippage_and_latency_per_version() -> None:
    decisions = [decision("champion", "1", h) for h in range(4)]
    decisions += [decision("canary", "2", h) for h in range(4)]
    ids = {(d["role"], d["bar_time"].hour): d["intent_id"] for d in decisions}
    events = [
        fill(ids[("champion", 0)], True, 1.0),
        fill(ids[("champion", 1)], False, 1.1, slippage_points=2.0),  # +10 %
        fill(ids[("canary", 0)], True, 1.0, volume=0.05),
        fill(ids[("canary", 1)], False, 1.2, volume=0.05),  # +20 %
        fill(ids[("canary", 2)], True, 1.0, volume=0.05, state="rejected"),
    ]
    evidence = collect_evidence(
        pd.DataFrame(decisions),
        pd.DataFrame(events),
        model_name=MODEL,
        champion_version="1",
        canary_version="2",
        expected_slippage_points=0.5,
    )
    assert evidence.bars == 4
    assert evidence.champion.returns.tolist() == pytest.approx([0.1])
    assert evidence.canary.returns.tolist() == pytest.approx([0.2])
    assert (evidence.canary.orders, evidence.canary.fills, evidence.canary.errors) == (3, 2, 1)
    assert evidence.canary.error_rate == pytest.approx(1 / 3)
    assert evidence.champion.mean_slippage_points == pytest.approx(1.0)
    assert evidence.champion.slippage_vs_expected_points == pytest.approx(0.5)
    assert evidence.canary.latency_p95_seconds == pytest.approx(0.001)


def test_welch_finds_a_real_edge_and_rarely_a_false_one() -> None:
    rng = np.random.default_rng(0)
    better = welch_p_value(rng.normal(0.002, 0.01, 200), rng.normal(0.0, 0.01, 200), "greater")
    assert better < 0.01
    false_alarms = sum(
        welch_p_value(rng.normal(0, 0.01, 60), rng.normal(0, 0.01, 60), "greater") < 0.05
        for _ in range(400)
    )
    assert false_alarms / 400 < 0.09  # alpha 0.05, with room for 400 draws' noise


def test_the_error_rate_bound_is_wider_with_fewer_orders() -> None:
    few = rate_difference_bounds(0, 20, 0, 20, 0.05)
    many = rate_difference_bounds(0, 2_000, 0, 2_000, 0.05)
    assert few[1] > many[1] > 0 > many[0] > few[0]
    low, high = rate_difference_bounds(10, 100, 0, 100, 0.05)
    assert 0 < low < 0.1 < high


def test_stages_widen_in_order_and_end_at_the_last() -> None:
    stages = (0.05, 0.1, 0.25, 0.5)
    assert [next_stage(f, stages) for f in (0.05, 0.1, 0.25, 0.5)] == [0.1, 0.25, 0.5, None]
    assert next_stage(0.07, stages) == 0.1


def arm(returns: np.ndarray, *, errors: int = 0, orders: int = 400, latency: float = 0.001):
    return ArmEvidence(
        decisions=400,
        trades=len(returns),
        mean_return=float(returns.mean()) if len(returns) else 0.0,
        orders=orders,
        fills=orders - errors,
        errors=errors,
        fill_rate=(orders - errors) / orders,
        error_rate=errors / orders,
        mean_slippage_points=0.0,
        slippage_vs_expected_points=0.0,
        latency_p95_seconds=latency,
        returns=returns,
        slippages=np.zeros(orders - errors),
    )


def evidence(champion: ArmEvidence, canary: ArmEvidence, bars: int = 400) -> Evidence:
    return Evidence(champion, canary, bars, None)


RNG = np.random.default_rng(11)
NEUTRAL = RNG.normal(0.0, 0.002, 300)
BETTER = RNG.normal(0.002, 0.002, 300)
WORSE = RNG.normal(-0.002, 0.002, 300)
POLICY = GatePolicy()


def test_too_little_evidence_holds_whatever_the_means_say() -> None:
    found = decide(evidence(arm(NEUTRAL), arm(BETTER[:10])), fraction=0.05, policy=POLICY)
    assert found.outcome is GateOutcome.HOLD
    assert "not enough evidence" in found.reasons[0]
    few_bars = decide(evidence(arm(NEUTRAL), arm(BETTER), bars=20), fraction=0.05, policy=POLICY)
    assert few_bars.outcome is GateOutcome.HOLD


def test_a_better_canary_is_widened_by_stage_then_promoted() -> None:
    fraction, seen = 0.05, []
    for _ in range(5):
        found = decide(evidence(arm(NEUTRAL), arm(BETTER)), fraction=fraction, policy=POLICY)
        seen.append(found.outcome)
        if found.outcome is GateOutcome.PROMOTE:
            break
        fraction = found.fraction
    assert seen == [GateOutcome.WIDEN] * 3 + [GateOutcome.PROMOTE]
    assert fraction == 0.5


def test_a_worse_canary_is_rolled_back() -> None:
    found = decide(evidence(arm(NEUTRAL), arm(WORSE)), fraction=0.05, policy=POLICY)
    assert found.outcome is GateOutcome.ROLLBACK
    assert found.fraction == 0.0
    assert found.numbers["p_worse"] < 0.05


def test_a_better_canary_with_many_more_order_errors_is_rolled_back() -> None:
    found = decide(evidence(arm(NEUTRAL), arm(BETTER, errors=40)), fraction=0.05, policy=POLICY)
    assert found.outcome is GateOutcome.ROLLBACK
    assert "order-error rate" in found.reasons[0]


def test_a_slower_canary_is_rolled_back() -> None:
    found = decide(evidence(arm(NEUTRAL), arm(BETTER, latency=0.3)), fraction=0.05, policy=POLICY)
    assert found.outcome is GateOutcome.ROLLBACK
    assert "latency" in found.reasons[0]


SPENT = BudgetStatus("champion execution", good=990, total=1000, target=0.999)


def test_a_spent_budget_freezes_widening_but_not_rollback() -> None:
    better = decide(
        evidence(arm(NEUTRAL), arm(BETTER)), fraction=0.05, policy=POLICY, budgets=[SPENT]
    )
    assert better.outcome is GateOutcome.FROZEN
    assert better.fraction == 0.05
    assert "champion execution" in better.reasons[0]
    worse = decide(
        evidence(arm(NEUTRAL), arm(WORSE)), fraction=0.05, policy=POLICY, budgets=[SPENT]
    )
    assert worse.outcome is GateOutcome.ROLLBACK


def test_a_canary_not_yet_shown_non_inferior_on_errors_is_held_not_rolled_back() -> None:
    few_orders = arm(BETTER, errors=1, orders=60)
    found = decide(evidence(arm(NEUTRAL), few_orders), fraction=0.05, policy=POLICY)
    assert found.outcome is GateOutcome.HOLD
    assert "not yet shown non-inferior" in found.reasons[0]


def test_an_equal_canary_holds() -> None:
    found = decide(evidence(arm(NEUTRAL), arm(NEUTRAL.copy())), fraction=0.05, policy=POLICY)
    assert found.outcome is GateOutcome.HOLD
