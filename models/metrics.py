"""Evaluation metrics: classification quality and what the signal would have earned.

AUC alone says nothing about money and Sharpe alone hides luck; both are reported, plus the
deflated Sharpe ratio (Bailey & López de Prado), which discounts a Sharpe for the number of
trials that were tried before it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm
from sklearn.metrics import log_loss, roc_auc_score

# FX trades ~24 hours, 5 days a week, 52 weeks: bars per year for each timeframe.
PERIODS_PER_YEAR: dict[str, float] = {
    "M1": 60 * 24 * 5 * 52,
    "M5": 12 * 24 * 5 * 52,
    "M15": 4 * 24 * 5 * 52,
    "M30": 2 * 24 * 5 * 52,
    "H1": 24 * 5 * 52,
    "H4": 6 * 5 * 52,
    "D1": 5 * 52,
}


def auc(y: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC; NaN when only one class is present (a fold without both outcomes)."""
    y = np.asarray(y)
    if np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, proba))


def logloss(y: np.ndarray, proba: np.ndarray) -> float:
    """Binary log loss with probabilities clipped away from 0 and 1."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1 - 1e-12)
    return float(log_loss(np.asarray(y), p, labels=[0, 1]))


def hit_rate(y: np.ndarray, proba: np.ndarray) -> float:
    """Share of rows whose predicted side (proba > 0.5) matches the label."""
    y = np.asarray(y)
    if y.size == 0:
        return float("nan")
    return float(np.mean((np.asarray(proba) > 0.5) == (y > 0.5)))


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe of per-period returns (no risk-free rate); 0 for a flat series."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0
    sd = r.std(ddof=1)
    if sd == 0 or not np.isfinite(sd):
        return 0.0
    return float(r.mean() / sd * math.sqrt(periods_per_year))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall of an equity curve, as a positive fraction of the peak."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size == 0:
        return 0.0
    peak = np.maximum.accumulate(e)
    return float(np.max((peak - e) / peak))


def deflated_sharpe_ratio(returns: np.ndarray, *, n_trials: int, trials_sharpe_std: float) -> float:
    """Probability that the true per-period Sharpe beats the best of ``n_trials`` lucky ones.

    ``trials_sharpe_std`` is the standard deviation of the per-period Sharpe ratios across the
    trials. Uses the skew and kurtosis of ``returns`` as the original paper does.
    """
    r = np.asarray(returns, dtype=np.float64)
    n = r.size
    if n < 3 or r.std(ddof=1) == 0:
        return 0.0
    sr = r.mean() / r.std(ddof=1)
    centred = r - r.mean()
    skew = float(np.mean(centred**3) / r.std() ** 3)
    kurt = float(np.mean(centred**4) / r.std() ** 4)
    gamma = 0.5772156649
    if n_trials > 1:
        sr0 = trials_sharpe_std * (
            (1 - gamma) * norm.ppf(1 - 1 / n_trials) + gamma * norm.ppf(1 - 1 / (n_trials * math.e))
        )
    else:
        sr0 = 0.0
    denom = math.sqrt(max(1 - skew * sr + (kurt - 1) / 4 * sr**2, 1e-12))
    return float(norm.cdf((sr - sr0) * math.sqrt(n - 1) / denom))


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """AUC, log loss and hit rate in one dict (the names flows log)."""
    return {"auc": auc(y, proba), "logloss": logloss(y, proba), "hit_rate": hit_rate(y, proba)}
