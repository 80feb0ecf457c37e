"""Sizing follows confidence on the broker's volume grid and never exceeds the budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.sizing import RiskBudget, size_from_confidence, sizes_from_confidence

GRID = {"max_volume": 1.0, "min_volume": 0.01, "volume_step": 0.01}


def test_full_confidence_trades_the_maximum() -> None:
    assert size_from_confidence(1.0, **GRID) == 1.0


def test_size_is_floored_to_the_step() -> None:
    assert size_from_confidence(0.237, **GRID) == 0.23


def test_below_minimum_lot_trades_nothing() -> None:
    assert size_from_confidence(0.3, max_volume=1.0, min_volume=0.5, volume_step=0.1) == 0.0
    assert size_from_confidence(float("nan"), **GRID) == 0.0


def test_invalid_grid_is_rejected() -> None:
    with pytest.raises(ValueError, match="volume grid"):
        size_from_confidence(0.5, max_volume=1.0, min_volume=0.01, volume_step=0.0)


@given(st.floats(-1, 2, allow_nan=False))
def test_size_stays_on_the_grid_within_budget(confidence: float) -> None:
    size = size_from_confidence(confidence, **GRID)
    assert 0.0 <= size <= GRID["max_volume"]
    assert abs(round(size / 0.01) * 0.01 - size) < 1e-9


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30))
def test_the_backtests_array_sizing_is_the_workers_per_decision_sizing(
    confidences: list[float],
) -> None:
    sizes = sizes_from_confidence(np.array(confidences, dtype=np.float64), **GRID)
    assert sizes.tolist() == [size_from_confidence(c, **GRID) for c in confidences]


def test_risk_budget_signs_sizes_and_normalises_by_the_budget() -> None:
    budget = RiskBudget(max_volume=2.0, min_volume=0.1, volume_step=0.1)
    lots = budget.lots([1, -1, 0, 1], [0.5, 0.26, 0.9, 0.02])
    np.testing.assert_array_equal(lots, [1.0, -0.5, 0.0, 0.0])  # 0.04 lots is under the minimum
    np.testing.assert_array_equal(budget.fractions([1, -1], [1.0, 0.5]), [1.0, -0.5])
    with pytest.raises(ValueError, match="volume grid"):
        RiskBudget(volume_step=0.0)
