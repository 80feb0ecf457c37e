"""Feature drift statistics (PSI, two-sample KS, Wasserstein-1), vectorised and scipy-checked.

These feed the PSI breaker in the worker and the drift flow, so they must be cheap on a few
thousand journal rows and on a hundred thousand; Evidently renders the human report from the same
data. A feature is flagged when both its PSI and its KS statistic pass their thresholds: with
thousands of serially correlated rows a KS *p-value* rejects almost anything, so effect sizes
decide.

`column_statistics` sorts each column once, and the sorted columns serve all three: merging a
column's two sorted samples (a stable sort of two sorted runs is a linear merge) gives both
empirical CDFs by counting, which KS reads where each run of ties ends and Wasserstein integrates
between neighbours; the PSI bins are counted by binary search of the bin edges in the sorted
samples, never by binning every value. The one-column functions below are the same definitions written plainly;
tests hold all of them to scipy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import kstwo

PSI_EPSILON = 1e-4


def _clean(values: np.ndarray | pd.Series) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def _psi_edges(sorted_ref: np.ndarray, bins: int) -> np.ndarray:
    """Inner reference-quantile edges of a sorted column, as ``np.quantile`` (linear) gives them."""
    q = np.linspace(0, 1, bins + 1)[1:-1]
    position = q * (sorted_ref.size - 1)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, sorted_ref.size - 1)
    t = position - lo
    a, b = sorted_ref[lo], sorted_ref[hi]
    diff = b - a
    # numpy's own lerp, so the edges equal np.quantile's to the last bit
    edges = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return np.unique(edges)


def _psi_sorted(sorted_ref: np.ndarray, sorted_cur: np.ndarray, bins: int) -> float:
    edges = _psi_edges(sorted_ref, bins)
    # values below edge i fill bins 0..i: a binary search per edge counts them
    ref_cum = np.searchsorted(sorted_ref, edges, side="left")
    cur_cum = np.searchsorted(sorted_cur, edges, side="left")
    ref_counts = np.diff(np.concatenate([[0], ref_cum, [sorted_ref.size]]))
    cur_counts = np.diff(np.concatenate([[0], cur_cum, [sorted_cur.size]]))
    r = np.maximum(ref_counts / sorted_ref.size, PSI_EPSILON)
    c = np.maximum(cur_counts / sorted_cur.size, PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


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


def _ks_pvalue(d: np.ndarray | float, n: int, m: int) -> np.ndarray:
    en = n * m / (n + m)
    return np.asarray(np.clip(kstwo.sf(d, max(round(en), 1)), 0.0, 1.0), dtype=np.float64)


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
    return d, float(_ks_pvalue(d, n, m))


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


@dataclass(frozen=True)
class ColumnStatistics:
    """Per column: PSI, KS statistic, Wasserstein-1, the reference's std and the sample sizes.

    KS p-values are left to `ks_pvalues`: the exact Kolmogorov distribution costs more for one
    column of 100k rows than all three statistics together.
    """

    psi: np.ndarray
    ks: np.ndarray
    wasserstein: np.ndarray
    reference_std: np.ndarray
    n_reference: np.ndarray
    n_current: np.ndarray


def ks_pvalues(stats: ColumnStatistics) -> np.ndarray:
    """Asymptotic two-sided KS p-values, as ``ks_2samp(..., method="asymp")`` gives them."""
    out = np.full(stats.ks.size, np.nan)
    for j, (d, n, m) in enumerate(zip(stats.ks, stats.n_reference, stats.n_current, strict=True)):
        if n > 0 and m > 0 and np.isfinite(d):
            out[j] = float(_ks_pvalue(float(d), int(n), int(m)))
    return out


def _ks_and_wasserstein(
    sorted_ref: np.ndarray, sorted_cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """KS and Wasserstein of each row pair of two row-sorted, finite 2-D arrays (row = feature).

    Per row, a stable sort of the two sorted runs side by side is a linear merge; counting the
    reference's values along the merged order gives both empirical CDFs, their distance kept as
    an integer (``|F_ref - F_cur| * n * m``) so KS is an exact fraction. KS reads it where a run
    of ties ends, Wasserstein-1 integrates it over the gaps between neighbours.
    """
    n, m = sorted_ref.shape[1], sorted_cur.shape[1]
    rows = sorted_ref.shape[0]
    ks, distance = np.empty(rows), np.empty(rows)
    both = np.empty(n + m)
    seen = np.arange(1, n + m)  # values seen up to each merged position but the last
    for j in range(rows):
        both[:n], both[n:] = sorted_ref[j], sorted_cur[j]
        order = np.argsort(both, kind="stable")
        grid = both[order]
        from_ref = np.cumsum(order[:-1] < n)
        gap = np.abs(from_ref * m - (seen - from_ref) * n)
        steps = np.diff(grid)
        distance[j] = np.dot(gap, steps) / (n * m)
        ks[j] = np.max(gap[steps != 0], initial=0) / (n * m)
    return ks, distance


def column_statistics(
    reference: np.ndarray, current: np.ndarray, bins: int = 10
) -> ColumnStatistics:
    """PSI, KS and Wasserstein-1 of every column, sorting each column once.

    Args:
        reference: 2-D array, one column per feature.
        current: 2-D array with the same columns.
        bins: reference-quantile bins of the PSI.

    Non-finite values are ignored per column (a column with any is done on its own); a column
    empty on either side gives NaN.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.ndim != 2 or cur.ndim != 2 or ref.shape[1] != cur.shape[1]:
        raise ValueError(f"need two 2-D arrays with the same columns, got {ref.shape}, {cur.shape}")
    k = ref.shape[1]
    out = {name: np.full(k, np.nan) for name in ("psi", "ks", "w", "std", "n", "m")}
    finite: np.ndarray = np.asarray(np.isfinite(ref).all(axis=0) & np.isfinite(cur).all(axis=0))
    if ref.shape[0] == 0 or cur.shape[0] == 0:
        finite = np.zeros(k, dtype=bool)
    groups = [np.flatnonzero(finite)] + [np.array([j]) for j in np.flatnonzero(~finite)]
    for columns in groups:
        if columns.size == 0:
            continue
        if columns.size == 1 and not finite[columns[0]]:
            r = np.sort(_clean(ref[:, columns[0]]))[None, :]
            c = np.sort(_clean(cur[:, columns[0]]))[None, :]
            if r.size == 0 or c.size == 0:
                continue
        else:  # one contiguous row per feature: the sorts run along memory
            whole = columns.size == k
            r = np.ascontiguousarray((ref if whole else ref[:, columns]).T)
            c = np.ascontiguousarray((cur if whole else cur[:, columns]).T)
            r.sort(axis=1)
            c.sort(axis=1)
        out["ks"][columns], out["w"][columns] = _ks_and_wasserstein(r, c)
        out["std"][columns] = np.std(r, axis=1)
        out["n"][columns], out["m"][columns] = r.shape[1], c.shape[1]
        out["psi"][columns] = [_psi_sorted(r[j], c[j], bins) for j in range(r.shape[0])]
    return ColumnStatistics(out["psi"], out["ks"], out["w"], out["std"], out["n"], out["m"])


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
    stats = column_statistics(
        reference[names].to_numpy(dtype=np.float64),
        current[names].to_numpy(dtype=np.float64),
        bins=bins,
    )
    pvalues = ks_pvalues(stats)
    rows = [
        {
            "feature": name,
            "psi": float(stats.psi[j]),
            "ks": float(stats.ks[j]),
            "ks_pvalue": float(pvalues[j]),
            "wasserstein": float(stats.wasserstein[j]),
            "wasserstein_std": float(stats.wasserstein[j] / stats.reference_std[j])
            if stats.reference_std[j]
            else math.nan,
            "drifted": bool(stats.psi[j] > psi_threshold and stats.ks[j] > ks_threshold),
        }
        for j, name in enumerate(names)
    ]
    return pd.DataFrame(
        rows,
        columns=["feature", "psi", "ks", "ks_pvalue", "wasserstein", "wasserstein_std", "drifted"],
    )


def any_drift(table: pd.DataFrame) -> bool:
    """True when any feature in a ``drift_table`` is flagged."""
    return bool(table["drifted"].any())


def key_features(importance: Mapping[str, float], top: int) -> list[str]:
    """The ``top`` features by the model's own importance (gain): drift there moves its output."""
    ranked = sorted(importance.items(), key=lambda item: (-float(item[1]), item[0]))
    return [name for name, gain in ranked[:top] if float(gain) > 0]


def psi_halt_reasons(table: pd.DataFrame, keys: list[str], psi_halt: float) -> list[str]:
    """One reason per key feature whose PSI reached ``psi_halt`` (a ``drift_table``'s rows)."""
    values = dict(zip(table["feature"], table["psi"].astype(float), strict=True))
    return [
        f"PSI {values[name]:.3f} >= {psi_halt:.2f} on key feature {name}"
        for name in keys
        if name in values and values[name] >= psi_halt
    ]
