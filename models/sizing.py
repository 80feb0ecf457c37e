"""Position size from model confidence, on the broker's volume grid.

Confidence scales risk linearly up to ``max_volume``; the result is floored to
``volume_step`` (never rounded up past the budget) and anything under ``min_volume`` is not
traded, because the broker would reject it as an invalid volume.
"""

from __future__ import annotations

import math


def size_from_confidence(
    confidence: float, *, max_volume: float, min_volume: float, volume_step: float
) -> float:
    """Lots to hold for a confidence in [0, 1] (clipped); 0.0 when below the minimum lot."""
    if volume_step <= 0 or min_volume < 0 or max_volume < 0:
        raise ValueError(
            f"invalid volume grid: step={volume_step}, min={min_volume}, max={max_volume}"
        )
    if not math.isfinite(confidence):
        return 0.0
    raw = min(max(confidence, 0.0), 1.0) * max_volume
    steps = math.floor(raw / volume_step + 1e-9)
    volume = round(steps * volume_step, 8)
    if volume < min_volume - 1e-12:
        return 0.0
    return volume
