"""Evaluation metrics: classification quality and what the signal would have earned.

AUC alone says nothing about money and Sharpe alone hides luck; both are reported, plus the
deflated Sharpe ratio (Bailey & López de Prado), which discounts a Sharpe for the number of
trials that were tried before it.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from scipy.stats import norm
from sklearn.metrics import log_loss, roc_auc_score

from models.backtest import traded_units

EULER_GAMMA = 0.5772156649015329

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


def sortino_ratio(returns: np.ndarray, periods_per_year: float, target: float = 0.0) -> float:
    """Annualised Sortino: mean excess over ``target`` per unit of downside deviation.

    Losses hurt, upside volatility does not; the downside deviation is the root mean square
    of the shortfalls below ``target`` over *all* periods. 0 for a flat series, ``inf`` when
    a positive mean never falls below target.
    """
    r = np.asarray(returns, dtype=np.float64) - target
    if r.size < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside == 0:
        return math.inf if r.mean() > 0 else 0.0
    return float(r.mean() / downside * math.sqrt(periods_per_year))


def turnover(positions: np.ndarray, symbols: np.ndarray | None = None) -> float:
    """Mean |Δ position| per row, entering from flat, each symbol's last row ending flat.

    The same units the backtest charges costs on, so ``cost ≈ turnover × cost per unit``.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.size == 0:
        return 0.0
    sym = np.zeros(pos.size) if symbols is None else np.asarray(symbols)
    return float(traded_units(pos, sym).mean())


def cost_share(gross_returns: np.ndarray, net_returns: np.ndarray) -> float:
    """Costs as a share of gross PnL: how much of the edge the frictions take.

    ``inf`` when there is no gross profit to pay costs from but costs were paid (the strategy
    cannot pay for its trading); 0 when nothing was paid.
    """
    gross = float(np.sum(np.asarray(gross_returns, dtype=np.float64)))
    cost = gross - float(np.sum(np.asarray(net_returns, dtype=np.float64)))
    if cost <= 0:
        return 0.0
    return cost / gross if gross > 0 else math.inf


def expected_max_sharpe(n_trials: int, trials_sharpe_std: float) -> float:
    """Expected best per-period Sharpe of ``n_trials`` skill-less trials (the DSR's bar).

    False Strategy Theorem (Bailey & López de Prado, 2014): the maximum of N draws of zero
    true Sharpe and standard deviation ``trials_sharpe_std``; 0 for a single trial.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if n_trials == 1:
        return 0.0
    return float(
        trials_sharpe_std
        * (
            (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials)
            + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * math.e))
        )
    )


def deflated_sharpe_from_moments(
    sharpe: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    *,
    n_trials: int,
    trials_sharpe_std: float,
) -> float:
    """DSR from a per-period Sharpe and the moments of its returns (kurtosis not excess).

    The probabilistic Sharpe ratio against the best Sharpe luck alone would have produced,
    with the estimator's error widened by skew and fat tails.
    """
    sr0 = expected_max_sharpe(n_trials, trials_sharpe_std)
    denom = math.sqrt(max(1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2, 1e-12))
    return float(norm.cdf((sharpe - sr0) * math.sqrt(n_obs - 1) / denom))


def _moments(r: np.ndarray) -> tuple[float, float, float]:
    """Per-period Sharpe (ddof=1), skewness and (non-excess) kurtosis."""
    centred = r - r.mean()
    sd0 = r.std()
    return (
        float(r.mean() / r.std(ddof=1)),
        float(np.mean(centred**3) / sd0**3),
        float(np.mean(centred**4) / sd0**4),
    )


def sharpe_standard_error(returns: np.ndarray) -> float:
    """Standard error of the per-period Sharpe estimate (Mertens / Lo, non-normal returns).

    Stands in for the spread of Sharpe ratios across trials when only the chosen trial's
    returns are at hand: trials without skill differ by estimation noise of this size.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 3 or r.std(ddof=1) == 0:
        return 0.0
    sr, skew, kurt = _moments(r)
    return math.sqrt(max(1 - skew * sr + (kurt - 1) / 4 * sr**2, 1e-12) / (r.size - 1))


def deflated_sharpe_ratio(
    returns: np.ndarray, *, n_trials: int, trials_sharpe_std: float | None = None
) -> float:
    """Probability that the true per-period Sharpe beats the best of ``n_trials`` lucky ones.

    ``trials_sharpe_std`` is the standard deviation of the per-period Sharpe ratios across the
    trials (default: this series' Sharpe standard error). Uses the skew and kurtosis of
    ``returns`` as the original paper does. 0 for a flat or too short series.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 3 or r.std(ddof=1) == 0:
        return 0.0
    sr, skew, kurt = _moments(r)
    std = sharpe_standard_error(r) if trials_sharpe_std is None else trials_sharpe_std
    return deflated_sharpe_from_moments(
        sr, r.size, skew, kurt, n_trials=n_trials, trials_sharpe_std=std
    )


def cscv_logits(returns: np.ndarray, n_subsets: int = 16) -> np.ndarray:
    """Logits of the in-sample winner's out-of-sample relative rank, one per CSCV split.

    Combinatorially symmetric CV (Bailey, Borwein, López de Prado & Zhu, 2017): the T × N
    matrix of per-period returns of N configurations is cut into ``n_subsets`` (even) blocks
    of rows; every half of the blocks is once the in-sample set, its complement the
    out-of-sample set. The configuration with the best in-sample Sharpe gets its OOS rank
    ``ω`` among the N (ties averaged) and the logit ``ln(ω / (1 - ω))``, ``ω = rank/(N+1)``.
    Trailing rows that do not fill a block are dropped.
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"need a T x N matrix with N >= 2 configurations, got {m.shape}")
    if n_subsets < 2 or n_subsets % 2:
        raise ValueError(f"n_subsets must be even and >= 2, got {n_subsets}")
    rows = m.shape[0] // n_subsets
    if rows < 2:
        raise ValueError(f"{m.shape[0]} rows cannot fill {n_subsets} blocks of >= 2 rows")
    blocks = m[: rows * n_subsets].reshape(n_subsets, rows, m.shape[1])
    sums, squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    chosen = np.array(list(combinations(range(n_subsets), n_subsets // 2)))
    in_sample = np.zeros((len(chosen), n_subsets))
    np.put_along_axis(in_sample, chosen, 1.0, axis=1)
    n = rows * n_subsets // 2

    def sharpe(mask: np.ndarray) -> np.ndarray:
        mean = mask @ sums / n
        var = (mask @ squares - n * mean**2) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(var > 0, mean / np.sqrt(np.maximum(var, 0.0)), 0.0)

    is_sr, oos_sr = sharpe(in_sample), sharpe(1.0 - in_sample)
    best = oos_sr[np.arange(len(chosen)), np.argmax(is_sr, axis=1)][:, None]
    rank = (oos_sr < best).sum(axis=1) + ((oos_sr == best).sum(axis=1) + 1) / 2
    omega = rank / (m.shape[1] + 1)
    logits: np.ndarray = np.log(omega / (1 - omega))
    return logits


def probability_of_backtest_overfitting(returns: np.ndarray, n_subsets: int = 16) -> float:
    """PBO: the share of CSCV splits where the in-sample winner ranks below the OOS median.

    Near 0 when choosing the best configuration finds real skill, about 0.5 when every
    configuration is noise (the choice is a coin flip), near 1 when in-sample winners are
    systematically out-of-sample losers. ``returns`` is T × N out-of-fold returns.
    """
    return float(np.mean(cscv_logits(returns, n_subsets) <= 0))


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """AUC, log loss and hit rate in one dict (the names flows log)."""
    return {"auc": auc(y, proba), "logloss": logloss(y, proba), "hit_rate": hit_rate(y, proba)}
