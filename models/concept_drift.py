"""Prediction drift and concept drift: is the model still the model its gate judged?

Data drift asks whether the inputs moved. Two more questions decide whether a model should keep
trading. *Prediction drift*: does the model's output (its confidence, what sizes every trade)
still look like its out-of-fold predictions at training? *Concept drift*: on the trades whose
labels have since become known, do the realised hit rate, log loss and PnL per trade still sit
where the out-of-fold figures put them? The second is the one that costs money, so it gets a
confidence band: the out-of-fold mean ± ``z`` standard errors, where the standard error counts
overlapping labels as ``block`` rows per independent outcome (a label of ``horizon`` bars overlaps
its ``horizon - 1`` neighbours) and includes the reference's own uncertainty. Only leaving the
band on the losing side flags: a model doing better than its backtest is not halted.

Pure functions over arrays; the drift flow gathers the out-of-fold predictions, the journal and
the bars, and acts on the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.drift import column_statistics
from models.labels import forward_log_returns

PROBABILITY_FLOOR = 1e-6


def probability_from_decision(signal: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The probability a journaled decision came from: ``confidence = |2p - 1|``, its side is the
    signal's. NaN where the model stayed flat (the side of a flat decision is not journaled)."""
    s = np.asarray(signal, dtype=np.float64)
    c = np.asarray(confidence, dtype=np.float64)
    return np.where(s != 0, 0.5 + np.sign(s) * c / 2.0, np.nan)


def confidence_from_probability(probability: np.ndarray) -> np.ndarray:
    """``|2p - 1|``: what the worker journals as confidence (and sizes by)."""
    return np.abs(2.0 * np.asarray(probability, dtype=np.float64) - 1.0)


def realised_forward_returns(
    bars: Mapping[str, pd.DataFrame],
    times: pd.Series | np.ndarray,
    symbols: pd.Series | np.ndarray,
    horizon: int,
) -> np.ndarray:
    """The forward log return over ``horizon`` bars after each (time, symbol), NaN while unknown.

    Uses the label's own definition (`models.labels.forward_log_returns`), so a label read here
    is the label the model was trained to predict. Rows whose bar or symbol is not in ``bars``
    stay NaN.
    """
    when = pd.to_datetime(pd.Series(np.asarray(times)), utc=True)
    names = pd.Series(np.asarray(symbols), dtype=object)
    out = np.full(len(when), np.nan)
    for name, frame in bars.items():
        rows = np.flatnonzero((names == name).to_numpy())
        if rows.size == 0 or frame.empty:
            continue
        returns = pd.Series(
            forward_log_returns(frame["close"].to_numpy(dtype=np.float64), horizon),
            index=pd.to_datetime(frame["time"], utc=True),
        )
        returns = returns[~returns.index.duplicated(keep="last")]
        out[rows] = returns.reindex(pd.DatetimeIndex(when.iloc[rows])).to_numpy()
    return out


@dataclass(frozen=True)
class TradeOutcomes:
    """Per traded row whose label is known: hit (0/1), log loss, PnL (log return, before costs)."""

    hit: np.ndarray
    log_loss: np.ndarray
    pnl: np.ndarray

    @property
    def n(self) -> int:
        return int(self.hit.size)

    def figure(self, name: str) -> np.ndarray:
        return {"hit_rate": self.hit, "log_loss": self.log_loss, "pnl_per_trade": self.pnl}[name]


def trade_outcomes(
    probability: np.ndarray, forward_return: np.ndarray, threshold: float
) -> TradeOutcomes:
    """The outcomes of the rows where the model took a side (``|p - 0.5| > threshold``) and the
    forward return is known; the label is ``forward_return > 0``, as in training."""
    p = np.asarray(probability, dtype=np.float64)
    r = np.asarray(forward_return, dtype=np.float64)
    traded = np.isfinite(p) & np.isfinite(r) & (np.abs(p - 0.5) > threshold)
    p, r = np.clip(p[traded], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR), r[traded]
    y = (r > 0).astype(np.float64)
    side = np.sign(p - 0.5)
    return TradeOutcomes(
        hit=((side > 0) == (y > 0.5)).astype(np.float64),
        log_loss=-(y * np.log(p) + (1 - y) * np.log(1 - p)),
        pnl=side * r,
    )


# figure -> True when a higher value is better
FIGURES: dict[str, bool] = {"hit_rate": True, "log_loss": False, "pnl_per_trade": True}


@dataclass(frozen=True)
class FigureCheck:
    """One realised figure against its out-of-fold band."""

    name: str
    reference: float
    current: float
    lower: float
    upper: float
    worse: bool

    def words(self) -> str:
        where = "below" if FIGURES[self.name] else "above"
        verdict = f"{where} its band" if self.worse else "inside its band (or better)"
        return (
            f"{self.name} {self.current:.4g} vs out-of-fold {self.reference:.4g} "
            f"[{self.lower:.4g}, {self.upper:.4g}]: {verdict}"
        )


@dataclass(frozen=True)
class ConceptDrift:
    """The realised figures against their bands; ``enough`` is False below the minimum sample."""

    n_trades: int
    n_effective: float
    enough: bool
    checks: list[FigureCheck] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return self.enough and any(check.worse for check in self.checks)

    def reasons(self) -> list[str]:
        if not self.enough:
            return [f"concept drift not judged: {self.n_effective:.0f} independent outcomes known"]
        return [("FAIL: " if c.worse else "ok: ") + c.words() for c in self.checks]


def concept_drift(
    reference: TradeOutcomes,
    current: TradeOutcomes,
    *,
    block: int = 1,
    z: float = 3.0,
    min_effective: float = 20.0,
) -> ConceptDrift:
    """Compare realised outcomes with the out-of-fold ones, each figure within ``z`` standard errors.

    Args:
        reference: the out-of-fold outcomes at training.
        current: outcomes of journaled decisions whose labels are now known.
        block: rows per independent outcome (the label horizon, for overlapping labels).
        z: half-width of the band in standard errors (3: about 0.1 % one-sided per figure
            when nothing changed).
        min_effective: fewer independent current outcomes than this: not judged.
    """
    n_eff = current.n / max(block, 1)
    if reference.n < 2 or n_eff < min_effective:
        return ConceptDrift(current.n, n_eff, enough=False)
    checks = []
    for name, higher_is_better in FIGURES.items():
        ref, cur = reference.figure(name), current.figure(name)
        mean, sd = float(np.mean(ref)), float(np.std(ref, ddof=1))
        half = z * sd * math.sqrt(max(block, 1) * (1.0 / current.n + 1.0 / reference.n))
        value = float(np.mean(cur))
        lower, upper = mean - half, mean + half
        worse = value < lower if higher_is_better else value > upper
        checks.append(FigureCheck(name, mean, value, lower, upper, worse))
    return ConceptDrift(current.n, n_eff, enough=True, checks=checks)


@dataclass(frozen=True)
class PredictionDrift:
    """The model's confidence now against its out-of-fold confidence."""

    psi: float
    ks: float
    n_reference: int
    n_current: int
    drifted: bool

    def words(self) -> str:
        return (
            f"prediction drift: confidence PSI {self.psi:.3f}, KS {self.ks:.3f} over "
            f"{self.n_current} decisions vs {self.n_reference} out-of-fold predictions"
        )


def prediction_drift(
    reference_confidence: np.ndarray,
    current_confidence: np.ndarray,
    *,
    psi_threshold: float = 0.25,
    bins: int = 10,
) -> PredictionDrift:
    """PSI and KS of the confidence distribution; drifted when the PSI reaches the threshold."""
    ref = np.asarray(reference_confidence, dtype=np.float64)
    cur = np.asarray(current_confidence, dtype=np.float64)
    stats = column_statistics(ref[:, None], cur[:, None], bins=bins)
    value, ks = float(stats.psi[0]), float(stats.ks[0])
    drifted = bool(np.isfinite(value) and value >= psi_threshold)
    n_ref, n_cur = int(np.isfinite(ref).sum()), int(np.isfinite(cur).sum())
    return PredictionDrift(value, ks, n_ref, n_cur, drifted)
