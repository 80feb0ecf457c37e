"""Position size from model confidence, on the broker's volume grid.

Confidence scales risk linearly up to ``max_volume``; the result is floored to
``volume_step`` (never rounded up past the budget) and anything under ``min_volume`` is not
traded, because the broker would reject it as an invalid volume.

One implementation serves both sides: ``size_from_confidence`` is what the worker calls per
decision (plain floats: a decision pays no numpy overhead), and ``sizes_from_confidence``,
which the backtest calls on every bar at once, applies that same function to each value, so
a backtest and a live run size alike. ``drift_scale`` shrinks that size as the live drift
score rises (the worker multiplies it in; a backtest has no live drift, so it scales by 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from data_contracts.symbols import SymbolSpec, lookup_spec

_MAJORS = lookup_spec("EURUSD")  # every major shares this volume grid
_STEP_EPS = 1e-9  # 0.29 / 0.01 is 28.999999999999996 in floats; it is 29 steps
_MIN_EPS = 1e-12


DRIFT_FULL_SIZE_BELOW = 0.1


def drift_scale(
    score: float, *, full_below: float = DRIFT_FULL_SIZE_BELOW, zero_at: float = 0.25
) -> float:
    """The share of the confidence-based size to take given the drift score (PSI).

    1.0 at or below ``full_below``, 0.0 at or above ``zero_at``, linear between. An unknown
    score (NaN: the window is still filling) scales nothing — the breaker, not the sizing,
    is what guards an unmeasured market.
    """
    if math.isnan(score) or score <= full_below:
        return 1.0
    if score >= zero_at:
        return 0.0
    return (zero_at - score) / (zero_at - full_below)


def _check_grid(max_volume: float, min_volume: float, volume_step: float) -> None:
    if volume_step <= 0 or min_volume < 0 or max_volume < 0:
        raise ValueError(
            f"invalid volume grid: step={volume_step}, min={min_volume}, max={max_volume}"
        )


_ON_GRID: dict[tuple[int, float], float] = {}
_ON_GRID_MAX = 4096  # a grid has a few hundred steps in its budget; never evicted


def on_grid(steps: int, volume_step: float) -> float:
    """``round(steps * volume_step, 8)``: lots of a whole number of grid steps, rounded once
    per (steps, step) and then looked up (a float ``round`` to 8 digits costs a decision
    more than the look-up). A pure function of its key, so nothing invalidates it."""
    key = (steps, volume_step)
    volume = _ON_GRID.get(key)
    if volume is None:
        volume = round(steps * volume_step, 8)
        if len(_ON_GRID) < _ON_GRID_MAX:
            _ON_GRID[key] = volume
    return volume


def size_from_confidence(
    confidence: float, *, max_volume: float, min_volume: float, volume_step: float
) -> float:
    """Lots to hold for a confidence in [0, 1] (clipped); 0.0 when below the minimum lot."""
    if volume_step <= 0 or min_volume < 0 or max_volume < 0:  # _check_grid, once per decision
        _check_grid(max_volume, min_volume, volume_step)
    if not math.isfinite(confidence):
        return 0.0
    raw = min(max(confidence, 0.0), 1.0) * max_volume
    steps = math.floor(raw / volume_step + _STEP_EPS)
    volume = _ON_GRID.get((steps, volume_step))  # on_grid's look-up, inline
    if volume is None:
        volume = on_grid(steps, volume_step)
    if volume < min_volume - _MIN_EPS:
        return 0.0
    return volume


def sizes_from_confidence(
    confidence: ArrayLike, *, max_volume: float, min_volume: float, volume_step: float
) -> NDArray[np.float64]:
    """``size_from_confidence`` of every element: the worker's own function, not a copy.

    Applied once per distinct confidence (a backtest often has few), then spread back.
    """
    _check_grid(max_volume, min_volume, volume_step)
    c = np.asarray(confidence, dtype=np.float64)
    distinct, where = np.unique(c, return_inverse=True)
    sizes = np.array(
        [
            size_from_confidence(
                float(x), max_volume=max_volume, min_volume=min_volume, volume_step=volume_step
            )
            for x in distinct
        ],
        dtype=np.float64,
    )
    return sizes[where].reshape(c.shape)


@dataclass(frozen=True)
class RiskBudget:
    """The lots one model may hold per symbol at confidence 1, and the broker's volume grid.

    The defaults are the worker's (``max_volume=1.0``) on the majors' grid of their records in
    ``data_contracts.symbols`` (0.01-lot minimum and step), so training's backtest sizes as
    the champion trades.
    """

    max_volume: float = 1.0
    min_volume: float = _MAJORS.volume_min
    volume_step: float = _MAJORS.volume_step

    def __post_init__(self) -> None:
        _check_grid(self.max_volume, self.min_volume, self.volume_step)

    @classmethod
    def for_symbol(cls, spec: SymbolSpec, max_volume: float = 1.0) -> RiskBudget:
        """The budget on ``spec``'s own volume grid (an index CFD may trade 0.1-lot steps)."""
        return cls(max_volume=max_volume, min_volume=spec.volume_min, volume_step=spec.volume_step)

    def lots(self, signal: ArrayLike, confidence: ArrayLike) -> NDArray[np.float64]:
        """Signed lots per decision: the signal's direction times the confidence's size."""
        size = sizes_from_confidence(
            confidence,
            max_volume=self.max_volume,
            min_volume=self.min_volume,
            volume_step=self.volume_step,
        )
        return np.sign(np.asarray(signal, dtype=np.float64)) * size

    def fractions(self, signal: ArrayLike, confidence: ArrayLike) -> NDArray[np.float64]:
        """Signed lots as a fraction of the budget: the position a return backtest holds."""
        lots = self.lots(signal, confidence)
        return lots / self.max_volume if self.max_volume > 0 else np.zeros_like(lots)


def fractions_by_symbol(
    symbols: ArrayLike,
    signal: ArrayLike,
    confidence: ArrayLike,
    specs: Mapping[str, SymbolSpec],
    *,
    max_volume: float = 1.0,
) -> NDArray[np.float64]:
    """Signed positions (fractions of the budget) per row, each sized on its symbol's grid,
    as the worker sizes from that symbol's ``symbol_info``.

    Args:
        symbols: the symbol of each row; ``specs`` must hold each one.
    """
    names = np.asarray(symbols, dtype=object)
    sig = np.asarray(signal, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    out = np.zeros(sig.shape, dtype=np.float64)
    for name in np.unique(names):
        rows = names == name
        budget = RiskBudget.for_symbol(specs[str(name)], max_volume)
        out[rows] = budget.fractions(sig[rows], conf[rows])
    return out
