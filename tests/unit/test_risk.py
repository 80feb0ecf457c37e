"""Pure risk decisions: the position cap, the drift-score scaling and the tripped policies."""

from __future__ import annotations

import itertools
import math

import pytest

from serving.risk.policy import PositionCap, drift_scale, policy_target


def test_position_cap_bounds_both_directions() -> None:
    cap = PositionCap(0.5)
    assert (cap.apply(0.7), cap.apply(-2.0), cap.apply(0.2)) == (0.5, -0.5, 0.2)


def test_drift_scale_is_full_below_the_no_change_band_and_zero_at_the_breaker() -> None:
    assert drift_scale(0.0) == drift_scale(0.1) == 1.0
    assert drift_scale(0.25) == drift_scale(3.0) == 0.0
    assert drift_scale(0.175) == pytest.approx(0.5)
    assert drift_scale(float("nan")) == 1.0  # unmeasured: the breaker's business, not sizing's


def test_drift_scale_never_grows_with_the_score() -> None:
    scores = [i / 100 for i in range(40)]
    scales = [drift_scale(s) for s in scores]
    assert all(a >= b for a, b in itertools.pairwise(scales))


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [(0.8, 0.3, 0.8), (0.8, -0.5, 0.8), (0.0, 1.0, 0.0), (-0.4, -1.0, -0.4)],
)
def test_hold_keeps_what_is_held_and_opens_nothing(
    current: float, target: float, expected: float
) -> None:
    assert policy_target(current, target, "hold") == expected


@pytest.mark.parametrize(("current", "target"), [(0.8, 0.3), (-0.8, -1.0), (0.5, -0.5), (0, 1)])
def test_close_goes_flat(current: float, target: float) -> None:
    assert policy_target(current, target, "close") == 0.0


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (0.8, 0.3, 0.3),  # same side, smaller: shrink to it
        (0.3, 0.8, 0.3),  # same side, larger: never grow
        (-0.8, -0.3, -0.3),
        (0.8, -0.3, 0.0),  # the model flipped: flat, never the other side
        (0.8, 0.0, 0.0),
        (0.0, 0.5, 0.0),  # nothing held: nothing opened
    ],
)
def test_reduce_only_ever_shrinks_risk(current: float, target: float, expected: float) -> None:
    assert policy_target(current, target, "reduce") == expected


def test_reduce_never_exceeds_either_size_nor_flips_sign() -> None:
    values = [-1.0, -0.4, 0.0, 0.3, 1.0]
    for current in values:
        for target in values:
            got = policy_target(current, target, "reduce")
            assert abs(got) <= min(abs(current), abs(target)) + 1e-12
            assert got == 0 or math.copysign(1, got) == math.copysign(1, current)


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="tripped policy"):
        policy_target(0.0, 1.0, "panic")  # type: ignore[arg-type]
