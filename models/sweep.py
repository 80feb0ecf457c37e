"""Choosing one of several training configurations, and what the choice costs in honesty.

Trying N configurations and keeping the best out-of-fold Sharpe is itself a fit: the winner's
Sharpe is biased upwards. Two numbers say by how much. The deflated Sharpe (computed per
configuration with ``n_trials = N``) discounts the winner's Sharpe for the number of tries, and
the probability of backtest overfitting (combinatorially symmetric CV over the configurations'
out-of-fold per-time net returns) says how often the in-sample winner is an out-of-sample loser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.metrics import probability_of_backtest_overfitting

# Bailey et al. use 16 blocks: C(16, 8) = 12,870 splits, each half long enough to rank.
CSCV_SUBSETS = 16


@dataclass(frozen=True)
class SweepSelection:
    """The chosen configuration and what choosing it among the others means.

    Attributes:
        chosen: index of the configuration with the best out-of-fold net Sharpe (first on ties).
        sharpes: every configuration's out-of-fold net Sharpe, in sweep order.
        pbo: probability of backtest overfitting; NaN for a single configuration or too few
            per-time returns to cut into blocks.
        n_subsets: CSCV blocks the PBO used (0 when there is none).
    """

    chosen: int
    sharpes: list[float]
    pbo: float
    n_subsets: int

    @property
    def n_configurations(self) -> int:
        return len(self.sharpes)


def cscv_subsets(n_rows: int, preferred: int = CSCV_SUBSETS) -> int:
    """The largest even block count up to ``preferred`` that leaves two rows per block (0: none)."""
    count = min(preferred, n_rows // 2)
    count -= count % 2
    return count if count >= 2 else 0


def returns_matrix(returns: Sequence[pd.Series]) -> np.ndarray:
    """T × N matrix of per-time returns, rows aligned on the times every configuration traded."""
    frame = pd.concat([series.rename(i) for i, series in enumerate(returns)], axis=1, join="inner")
    return frame.sort_index().to_numpy(np.float64)


def select_configuration(
    sharpes: Sequence[float],
    net_returns: Sequence[pd.Series],
    preferred_subsets: int = CSCV_SUBSETS,
) -> SweepSelection:
    """Pick the best out-of-fold net Sharpe; with several configurations, measure the PBO.

    Args:
        sharpes: each configuration's out-of-fold net Sharpe (NaN never wins).
        net_returns: each configuration's out-of-fold per-time net returns (indexed by time).

    Raises:
        ValueError: the two sequences differ in length, or are empty.
    """
    if not sharpes or len(sharpes) != len(net_returns):
        raise ValueError(f"{len(sharpes)} Sharpes for {len(net_returns)} return series")
    ranked = [s if not math.isnan(s) else -math.inf for s in sharpes]
    chosen = int(np.argmax(ranked))
    pbo, n_subsets = math.nan, 0
    if len(sharpes) >= 2:
        matrix = returns_matrix(net_returns)
        n_subsets = cscv_subsets(matrix.shape[0], preferred_subsets)
        if n_subsets:
            pbo = probability_of_backtest_overfitting(matrix, n_subsets)
    return SweepSelection(
        chosen=chosen, sharpes=[float(s) for s in sharpes], pbo=pbo, n_subsets=n_subsets
    )
