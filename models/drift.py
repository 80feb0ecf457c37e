"""Feature drift statistics (PSI, two-sample KS, Wasserstein-1), vectorised and scipy-checked.

These feed the PSI breaker in the worker and the drift flow, so they must be cheap on a few
thousand journal rows; Evidently renders the human report from the same data. A feature is
flagged when both its PSI and its KS statistic pass their thresholds: with thousands of
serially correlated rows a KS *p-value* rejects almost anything, so effect sizes decide.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import kstwo

PSI_EPSILON = 1e-4


def _clean(values: np.ndarray | pd.Series) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def psi(
    reference: np.ndarray | pd.Series, current: np.ndarray | pd.Series, bins: int = 10
) -> float:
    """Population stability index over reference-quantile bins (open-ended at both ends).

    NaN and infinite values are ignored; empty bins are floored at ``PSI_EPSILON``.
    """
    ref, cur = _clean(reference), _clean(current)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    r = np.maximum(ref_share / ref.size, PSI_EPSILON)
    c = np.maximum(cur_share / cur.size, PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_statistic(
    reference: np.ndarray | pd.Series, current: np.ndarray | pd.Series
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and asymptotic two-sided p-value.

    Matches ``scipy.stats.ks_2samp(..., method="asymp")``.
    """
    ref, cur = np.sort(_clean(reference)), np.sort(_clean(current))
    n, m = ref.size, cur.size
    if n == 0 or m == 0:
        return float("nan"), float("nan")
    grid = np.concatenate([ref, cur])
    cdf_ref = np.searchsorted(ref, grid, side="right") / n
    cdf_cur = np.searchsorted(cur, grid, side="right") / m
    d = float(np.max(np.abs(cdf_ref - cdf_cur)))
    en = n * m / (n + m)
    pvalue = float(np.clip(kstwo.sf(d, max(round(en), 1)), 0.0, 1.0))
    return d, pvalue


def wasserstein(reference: np.ndarray | pd.Series, current: np.ndarray | pd.Series) -> float:
    """Earth mover's distance between the two empirical distributions (1-D, p = 1)."""
    ref, cur = np.sort(_clean(reference)), np.sort(_clean(current))
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    grid = np.sort(np.concatenate([ref, cur]))
    deltas = np.diff(grid)
    cdf_ref = np.searchsorted(ref, grid[:-1], side="right") / ref.size
    cdf_cur = np.searchsorted(cur, grid[:-1], side="right") / cur.size
    return float(np.sum(np.abs(cdf_ref - cdf_cur) * deltas))


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    psi_threshold: float = 0.2,
    ks_threshold: float = 0.45,
    bins: int = 10,
    features: list[str] | None = None,
) -> pd.DataFrame:
    """One row per feature: psi, ks, ks_pvalue, wasserstein (raw and in reference std), drifted.

    ``drifted`` needs PSI above ``psi_threshold`` *and* KS above ``ks_threshold``. The KS
    default is high on purpose: trailing-window features of hourly bars are strongly serially
    correlated, so a week or two of one trend moves momentum features' KS to ~0.35 within one
    regime, while the synthetic regime change moves volatility features' KS past 0.55 within
    its first week (see tests/unit/test_drift.py).
    """
    names = features if features is not None else [c for c in reference.columns if c in current]
    rows = []
    for name in names:
        ref, cur = reference[name], current[name]
        ks, pvalue = ks_statistic(ref, cur)
        distance = wasserstein(ref, cur)
        scale = float(np.nanstd(_clean(ref))) if _clean(ref).size else math.nan
        row_psi = psi(ref, cur, bins=bins)
        rows.append(
            {
                "feature": name,
                "psi": row_psi,
                "ks": ks,
                "ks_pvalue": pvalue,
                "wasserstein": distance,
                "wasserstein_std": distance / scale if scale else math.nan,
                "drifted": bool(row_psi > psi_threshold and ks > ks_threshold),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["feature", "psi", "ks", "ks_pvalue", "wasserstein", "wasserstein_std", "drifted"],
    )


def any_drift(table: pd.DataFrame) -> bool:
    """True when any feature in a ``drift_table`` is flagged."""
    return bool(table["drifted"].any())
