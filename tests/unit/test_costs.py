"""The cost model turns spread points and commission into return units the way a broker charges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.costs import CostModel, point_for, range_points, slippage_points


def test_round_trip_costs_one_spread_plus_two_commissions() -> None:
    costs = CostModel(commission_per_lot=3.5, contract_size=100_000)
    spread = costs.spread_return(np.array([12.0]), 1e-5, np.array([1.2]))
    fill = costs.fill_return("EURUSD", np.array([30.0]), 1e-5, np.array([1.2]))
    commission = 3.5 / (100_000 * 1.2)
    assert spread[0] + 2 * fill[0] == pytest.approx(12 * 1e-5 / 1.2 + 2 * commission, rel=1e-12)


def test_commission_of_a_usd_base_pair_needs_no_price() -> None:
    costs = CostModel(commission_per_lot=5.0)
    assert costs.commission_return("USDJPY", 150.0) == pytest.approx(5.0 / 100_000)
    assert costs.commission(0.3) == pytest.approx(1.5)


def test_slippage_is_fixed_points_plus_a_share_of_the_last_closed_range_rounded_up() -> None:
    costs = CostModel(slippage_fixed_points=1.0, slippage_range_fraction=0.1)
    np.testing.assert_array_equal(costs.slippage_points([0.0, 20.0, 21.0, 35.0]), [1, 3, 4, 5])
    assert slippage_points(7.0, fixed_points=0.0, range_fraction=0.0) == 0.0
    extra = costs.fill_return("EURUSD", [20.0], 1e-5, [1.0]) - CostModel().fill_return(
        "EURUSD", [20.0], 1e-5, [1.0]
    )
    assert extra[0] == pytest.approx(3e-5)


@given(
    fixed=st.floats(0, 10),
    fraction=st.floats(0, 1),
    low=st.floats(0, 500),
    high=st.floats(0, 500),
)
def test_slippage_is_whole_points_and_grows_with_the_range(
    fixed: float, fraction: float, low: float, high: float
) -> None:
    small, large = sorted((low, high))
    at_small, at_large = (
        float(slippage_points(r, fixed_points=fixed, range_fraction=fraction))
        for r in (small, large)
    )
    assert at_small == int(at_small) and at_small >= fixed - 1e-9
    assert at_large >= at_small


def test_the_range_of_a_bar_on_the_price_grid_is_whole_points() -> None:
    assert range_points(1.10013, 1.09990, 1e-5) == 23.0
    assert range_points(150.125, 149.9, 1e-3) == 225.0


def test_account_value_of_a_price_move_follows_the_quote_currency() -> None:
    costs = CostModel()
    assert costs.value_per_price_unit("EURUSD", 1.1) == 100_000
    assert costs.value_per_price_unit("USDJPY", 150.0) == pytest.approx(100_000 / 150.0)
    with pytest.raises(ValueError, match="EURJPY"):
        costs.value_per_price_unit("EURJPY", 160.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("commission_per_lot", -1.0), ("slippage_fixed_points", -0.5),
     ("slippage_range_fraction", float("nan")), ("contract_size", 0.0),
     ("latency_bars", -1), ("latency_bars", 1.5), ("latency_bars", True)],
)  # fmt: skip
def test_invalid_costs_are_rejected_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        CostModel(**{field: value})  # type: ignore[arg-type]


def test_jpy_quotes_have_three_digit_points() -> None:
    assert point_for("USDJPY") == 1e-3
    assert point_for("EURUSD") == 1e-5
