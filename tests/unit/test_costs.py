"""The cost model turns spread points and commission into return units the way a broker charges."""

from __future__ import annotations

import numpy as np
import pytest

from models.costs import CostModel, point_for


def test_round_trip_costs_one_spread_plus_two_commissions() -> None:
    costs = CostModel(commission_per_lot=3.5, contract_size=100_000)
    per_unit = costs.cost_per_unit_traded("EURUSD", np.array([12.0]), 1e-5, np.array([1.2]))
    spread = 12 * 1e-5 / 1.2
    commission = 3.5 / (100_000 * 1.2)
    assert 2 * per_unit[0] == pytest.approx(spread + 2 * commission, rel=1e-12)


def test_commission_of_a_usd_base_pair_needs_no_price() -> None:
    costs = CostModel(commission_per_lot=5.0)
    assert costs.commission_return("USDJPY", 150.0) == pytest.approx(5.0 / 100_000)
    assert costs.commission(0.3) == pytest.approx(1.5)


def test_slippage_adds_points_per_fill() -> None:
    base = CostModel(commission_per_lot=0.0)
    slipped = CostModel(commission_per_lot=0.0, slippage_points=2.0)
    spread, price = np.array([10.0]), np.array([1.0])
    extra = slipped.half_spread_return(spread, 1e-5, price) - base.half_spread_return(
        spread, 1e-5, price
    )
    assert extra[0] == pytest.approx(2e-5)


def test_negative_costs_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        CostModel(commission_per_lot=-1.0)


def test_jpy_quotes_have_three_digit_points() -> None:
    assert point_for("USDJPY") == 1e-3
    assert point_for("EURUSD") == 1e-5
