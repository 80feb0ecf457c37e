"""Error budgets: the arithmetic the gate, the worker's counters and the rules share."""

from __future__ import annotations

import numpy as np
import pytest

from models.slo import BudgetStatus, execution_budget, latency_budget, order_state_is_good
from serving.execution.outcomes import Outcome


def test_filled_placed_and_retried_orders_are_good_errors_are_bad() -> None:
    good = ["filled", "partial", "filled_reconciled", "partial_reconciled", "pending",
            "requote", "throttled"]  # fmt: skip
    bad = ["rejected", "unknown", "unknown_reconciled", "operational", "absent"]
    assert all(order_state_is_good(s) for s in good)
    assert not any(order_state_is_good(s) for s in bad)


def test_every_outcome_is_classified_as_the_outcome_table_documents_it() -> None:
    # the operator does nothing for these (serving.execution.outcomes.OPERATOR_ACTION)
    from serving.execution.outcomes import OPERATOR_ACTION

    for outcome in Outcome:
        documented_fine = OPERATOR_ACTION[outcome].startswith("nothing")
        assert order_state_is_good(outcome.value) == documented_fine, outcome


def test_the_budget_is_the_share_of_bad_events_the_target_allows() -> None:
    untouched = execution_budget(["filled"] * 1000, 0.999)
    half = execution_budget(["filled"] * 1999 + ["rejected"], 0.999)
    spent = execution_budget(["filled"] * 998 + ["rejected"] * 2, 0.999)
    assert untouched.remaining == 1.0
    assert half.remaining == pytest.approx(0.5)
    assert spent.spent and spent.remaining == pytest.approx(-1.0)
    assert BudgetStatus("none", 0, 0, 0.999).remaining == 1.0


def test_latency_budget_counts_decisions_over_the_threshold() -> None:
    latencies = np.r_[np.full(95, 0.01), np.full(5, 0.3), [np.nan]]
    at_target = latency_budget(latencies, 0.2, 0.95)
    assert (at_target.good, at_target.total) == (95, 100)
    assert at_target.remaining == pytest.approx(0.0) and at_target.spent
    assert not latency_budget(np.full(100, 0.2), 0.2, 0.95).spent  # at the threshold is good
