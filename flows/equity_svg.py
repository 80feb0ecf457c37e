"""An equity curve as a small static SVG, for the reports home.

The home must open with the network off, so no charting script from a CDN; matplotlib's PNG
(the MLflow run keeps one) would need a file per curve and a second renderer. A polyline per
series is all a person needs to see whether a version earned its money steadily or in one
lucky stretch, and gross vs net shows what costs took.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

WIDTH, HEIGHT, PAD = 480, 160, 24
COLOURS = {"equity_gross": "#8a8a8a", "equity_net": "#1a5fb4"}
MAX_POINTS = 400  # more points than pixels adds bytes, not information


def _thin(values: np.ndarray, limit: int) -> np.ndarray:
    """Every k-th value (and the last), so a long curve stays a few KB."""
    if len(values) <= limit:
        return values
    step = math.ceil(len(values) / limit)
    return np.concatenate([values[::step], values[-1:]])


def equity_svg(series: Mapping[str, Sequence[float] | np.ndarray], title: str) -> str:
    """An SVG of each named equity series on one shared scale, with its first and last values.

    Args:
        series: name → equity values (compounded, starting near 1.0); NaNs are dropped.
        title: the chart's title (escaped).

    Returns:
        A standalone ``<svg>`` element; an empty-curve note when no series has two points.
    """
    curves: dict[str, np.ndarray] = {}
    for name, values in series.items():
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if len(finite) >= 2:
            curves[name] = _thin(finite, MAX_POINTS)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">'
        f"<title>{html.escape(title)}</title>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff" stroke="#ddd"/>'
    )
    if not curves:
        note = f'<text x="{PAD}" y="{HEIGHT / 2}" font-size="12">no equity curve</text>'
        return head + note + "</svg>"
    low = min(float(v.min()) for v in curves.values())
    high = max(float(v.max()) for v in curves.values())
    span = high - low or 1.0

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - low) / span * (HEIGHT - 2 * PAD)

    parts = [head]
    for row, (name, curve) in enumerate(curves.items()):
        xs = PAD + np.arange(len(curve)) / (len(curve) - 1) * (WIDTH - 2 * PAD)
        points = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, curve, strict=True))
        colour = COLOURS.get(name, "#444")
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        )
        parts.append(
            f'<text x="{PAD + row * 200}" y="14" font-size="11" fill="{colour}">'
            f"{html.escape(name)}: {curve[0]:.3f} → {curve[-1]:.3f}</text>"
        )
    parts.append(
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="10" text-anchor="end" '
        f'fill="#666">{low:.3f} – {high:.3f}</text></svg>'
    )
    return "".join(parts)
