"""The leakage canary: plant a feature that reads the future and check the evaluation notices.

A purged walk-forward is only as good as its ability to expose a leak. The canary adds one
column that is the label's own forward return plus noise (a feature computed with the wrong
shift, the commonest leak there is), walks forward again with the same folds and parameters,
and compares. If the evaluation is sound, the planted column must dominate the gain importance
and the out-of-fold AUC and Sharpe must jump; if they do not, something between the features
and the scores is broken (features dropped, predictions misaligned, scores not out-of-fold), and
the run says so. The canary's model is discarded: it only tests the test.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.dataset import Dataset

LEAKED_FEATURE = "leak_canary_future_return"
# Noise as a multiple of the forward return's standard deviation: enough that the column is
# not the label itself, little enough that no honest evaluation can miss it.
LEAK_NOISE = 0.5
MIN_AUC_JUMP = 0.05
MIN_IMPORTANCE_SHARE = 0.25


def add_leaked_feature(dataset: Dataset, *, noise: float = LEAK_NOISE, seed: int = 0) -> Dataset:
    """A copy of ``dataset`` with one more feature: the label's forward return plus noise."""
    rng = np.random.default_rng(seed)
    forward = np.asarray(dataset.fwd_returns, dtype=np.float64)
    scale = float(np.nanstd(forward)) or 1.0
    leaked = forward + rng.normal(0.0, noise * scale, forward.size)
    return dataclasses.replace(dataset, X=dataset.X.assign(**{LEAKED_FEATURE: leaked}))


@dataclass(frozen=True)
class LeakCanaryReport:
    """How the planted feature showed up, and whether that counts as noticing it.

    Attributes:
        importance_share: the planted feature's share of the total gain over the folds.
        importance_rank: its rank by gain among all features (1 = most important).
        detected: the AUC jumped by at least the minimum and the feature ranks first with
            at least the minimum share of the gain.
    """

    feature: str
    auc_without: float
    auc_with: float
    sharpe_without: float
    sharpe_with: float
    importance_share: float
    importance_rank: int
    detected: bool

    @property
    def auc_jump(self) -> float:
        return self.auc_with - self.auc_without

    @property
    def sharpe_jump(self) -> float:
        return self.sharpe_with - self.sharpe_without

    def metrics(self) -> dict[str, float]:
        """Numbers for a tracker, named ``leak_canary_*``."""
        return {
            "leak_canary_auc_without": self.auc_without,
            "leak_canary_auc_with": self.auc_with,
            "leak_canary_auc_jump": self.auc_jump,
            "leak_canary_sharpe_jump": self.sharpe_jump,
            "leak_canary_importance_share": self.importance_share,
            "leak_canary_importance_rank": float(self.importance_rank),
            "leak_canary_detected": float(self.detected),
        }


def leak_canary_report(
    clean: Mapping[str, float],
    leaked: Mapping[str, float],
    importance: pd.Series,
    *,
    feature: str = LEAKED_FEATURE,
    min_auc_jump: float = MIN_AUC_JUMP,
    min_importance_share: float = MIN_IMPORTANCE_SHARE,
) -> LeakCanaryReport:
    """Compare the out-of-fold metrics without and with the planted feature.

    Args:
        clean, leaked: out-of-fold metrics (``auc``, ``sharpe_net``) of the same configuration
            and folds, without and with the planted feature.
        importance: gain per feature of the leaked run, summed over its folds.

    Raises:
        KeyError: the planted feature is not among the importances (it never reached a model).
    """
    if feature not in importance.index:
        raise KeyError(f"{feature!r} is not a feature of the canary's models")
    total = float(importance.sum())
    share = float(importance[feature]) / total if total > 0 else 0.0
    rank = int((importance > importance[feature]).sum()) + 1
    auc_without, auc_with = float(clean["auc"]), float(leaked["auc"])
    jump = auc_with - auc_without
    detected = (
        not math.isnan(jump)
        and jump >= min_auc_jump
        and rank == 1
        and share >= min_importance_share
    )
    return LeakCanaryReport(
        feature=feature,
        auc_without=auc_without,
        auc_with=auc_with,
        sharpe_without=float(clean["sharpe_net"]),
        sharpe_with=float(leaked["sharpe_net"]),
        importance_share=share,
        importance_rank=rank,
        detected=detected,
    )
