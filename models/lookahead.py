"""Look-ahead and warm-up analysis of a strategy's own features and signals.

The leakage canary (``models.leakage``) proves the *pipeline* would notice a planted
future-return feature; it says nothing about whether a given strategy's formulas are clean.
This module checks the strategy itself, on bars, without trusting its docstrings:

- **look-ahead**: the features (and the signals a model fitted once on the full history
  turns them into) are recomputed on the history cut at sampled bars; every row the cut
  history holds must equal the full history's row at the same timestamp. A row that changes
  when later bars are added read those bars: a ``shift(-1)``, a centred window, a
  normalisation over the whole sample. The finding names the feature and the first
  timestamp that differs.
- **recursive (warm-up)**: at sampled bars the features are recomputed from a history that
  starts exactly the declared warm-up (``window - 1`` bars) before the bar; they must equal
  the full-history values. A feature that needs more (a longer window than declared, an
  exponential average with long memory, a cumulative sum) fails, stating the warm-up it
  would need (the shortest history start, among those tried, from which it agrees), or that
  no start short of the whole history agrees.

Pure: bars in, a report out; ``flows/`` writes the report and decides what a failure stops.
Values are compared with a tolerance, since the same formula over a different prefix may
round differently in the last bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.strategy import Strategy

LOOKAHEAD = "lookahead"
RECURSIVE = "recursive"
SIGNAL = "signal"  # the pseudo-feature name of the signal column


@dataclass(frozen=True)
class LookaheadConfig:
    """How hard to look.

    Attributes:
        cuts: history cut points sampled for the look-ahead check.
        starts: bars sampled for the recursive check.
        rtol, atol: how close two values must be to count as equal (NaN equals NaN only).
        threshold: the decision threshold signals are computed with.
        horizon: label horizon of the one fit the signal check needs.
        params, rounds: that fit's parameters (small: the fit only maps features to signals).
    """

    cuts: int = 8
    starts: int = 6
    rtol: float = 1e-7
    atol: float = 1e-10
    threshold: float = 0.02
    horizon: int = 4
    params: Mapping[str, Any] = field(
        default_factory=lambda: {
            "objective": "binary",
            "num_leaves": 7,
            "min_data_in_leaf": 20,
            "learning_rate": 0.1,
            "num_threads": 1,
            "seed": 7,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
    )
    rounds: int = 10


@dataclass(frozen=True)
class Finding:
    """One failed check: which feature (or ``signal``), and where it first went wrong.

    ``needed_warmup`` (recursive only) is the warm-up in bars the feature would need, or
    ``None`` when no start short of the whole history agreed.
    """

    check: str
    feature: str
    first_time: pd.Timestamp
    detail: str
    needed_warmup: int | None = None


@dataclass(frozen=True)
class LookaheadReport:
    """The analysis of one strategy on one history."""

    strategy: str
    declared_warmup: int
    bars: int
    cut_times: tuple[pd.Timestamp, ...]
    start_times: tuple[pd.Timestamp, ...]
    findings: tuple[Finding, ...]
    signals_checked: bool

    @property
    def passed(self) -> bool:
        """True when neither check found anything."""
        return not self.findings

    def failed(self, check: str) -> tuple[Finding, ...]:
        """The findings of one check (``LOOKAHEAD`` or ``RECURSIVE``)."""
        return tuple(f for f in self.findings if f.check == check)

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-able: what a run records."""
        return {
            "strategy": self.strategy,
            "passed": self.passed,
            "declared_warmup": self.declared_warmup,
            "bars": self.bars,
            "cuts": len(self.cut_times),
            "starts": len(self.start_times),
            "signals_checked": self.signals_checked,
            "findings": [
                {
                    "check": f.check,
                    "feature": f.feature,
                    "first_time": f.first_time.isoformat(),
                    "detail": f.detail,
                    "needed_warmup": f.needed_warmup,
                }
                for f in self.findings
            ],
        }


def _differs(a: np.ndarray, b: np.ndarray, config: LookaheadConfig) -> np.ndarray:
    """Elementwise: the two values are not the same (NaN equals only NaN)."""
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=config.rtol, atol=config.atol, equal_nan=True)
    return np.asarray(np.logical_not(close), dtype=np.bool_)


def _sample(lo: int, hi: int, count: int) -> np.ndarray:
    """Up to ``count`` distinct positions spread evenly over [lo, hi], both ends included."""
    if hi < lo:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.linspace(lo, hi, num=max(count, 1)).round().astype(np.int64))


def _features(strategy: Strategy, bars: pd.DataFrame) -> np.ndarray:
    return np.asarray(strategy.features(bars.reset_index(drop=True)), dtype=np.float64)


class _Signals:
    """The strategy's signals from a model fitted once on the full history's features."""

    def __init__(
        self, strategy: Strategy, bars: pd.DataFrame, full: np.ndarray, config: LookaheadConfig
    ) -> None:
        self.strategy, self.config = strategy, config
        y, _ = strategy.labels(bars["close"].to_numpy(np.float64), config.horizon)
        rows = ~np.isnan(y) & ~np.isnan(full).all(axis=1)
        self.model: Any = None
        if rows.sum() >= 2 * config.horizon and len(np.unique(y[rows])) > 1:
            X = pd.DataFrame(full[rows], columns=list(strategy.feature_names))
            self.model = strategy.fit(X, y[rows], config.params, config.rounds)

    def of(self, features: np.ndarray) -> np.ndarray:
        """Signals per row (0 where the features are not ready), as floats for comparing."""
        proba = np.full(len(features), np.nan)
        ready = ~np.isnan(features).all(axis=1)
        if ready.any():
            proba[ready] = np.asarray(self.model.predict(features[ready]), dtype=np.float64)
        signal, _ = self.strategy.decide(proba, self.config.threshold)
        return np.asarray(signal, dtype=np.float64)


def _record(found: dict[str, Finding], finding: Finding) -> None:
    """Keep the earliest finding per (check, feature)."""
    key = f"{finding.check}:{finding.feature}"
    if key not in found or finding.first_time < found[key].first_time:
        found[key] = finding


def _lookahead(
    strategy: Strategy,
    bars: pd.DataFrame,
    times: pd.Series,
    full: np.ndarray,
    signals: _Signals | None,
    cuts: np.ndarray,
    config: LookaheadConfig,
    found: dict[str, Finding],
) -> None:
    names = list(strategy.feature_names)
    full_signal = signals.of(full) if signals is not None else None
    for cut in cuts:
        part = _features(strategy, bars.iloc[: cut + 1])
        columns = [part]
        expected = [full[: cut + 1]]
        labels = [names]
        if signals is not None and full_signal is not None:
            columns.append(signals.of(part)[:, None])
            expected.append(full_signal[: cut + 1, None])
            labels.append([SIGNAL])
        for got, want, cols in zip(columns, expected, labels, strict=True):
            bad = _differs(got, want, config)
            for j in np.flatnonzero(bad.any(axis=0)):
                row = int(np.flatnonzero(bad[:, j])[0])
                _record(
                    found,
                    Finding(
                        LOOKAHEAD,
                        cols[j],
                        pd.Timestamp(times.iloc[row]),
                        f"value at {pd.Timestamp(times.iloc[row]).isoformat()} changes when bars "
                        f"after {pd.Timestamp(times.iloc[cut]).isoformat()} are added "
                        f"({float(got[row, j])!r} with the history cut there, "
                        f"{float(want[row, j])!r} with the full history)",
                    ),
                )


def _agrees(
    strategy: Strategy,
    bars: pd.DataFrame,
    full: np.ndarray,
    at: int,
    column: int,
    warmup: int,
    config: LookaheadConfig,
) -> bool:
    """Whether feature ``column`` at bar ``at``, from ``warmup`` bars of history before it,
    equals the full history's value."""
    part = _features(strategy, bars.iloc[at - warmup : at + 1])
    return not bool(_differs(part[-1:, column], full[at : at + 1, column], config)[0])


def _needed_warmup(
    strategy: Strategy,
    bars: pd.DataFrame,
    full: np.ndarray,
    at: int,
    column: int,
    config: LookaheadConfig,
) -> int | None:
    """The shortest warm-up from which feature ``column`` at bar ``at`` agrees with the full
    history (doubling from the declared one, then bisecting), or None when only the whole
    history does."""
    failing = strategy.window - 1
    warmup = max(failing, 1) * 2
    while warmup < at and not _agrees(strategy, bars, full, at, column, warmup, config):
        failing, warmup = warmup, warmup * 2
    if warmup >= at:
        return None
    while warmup - failing > 1:
        middle = (failing + warmup) // 2
        if _agrees(strategy, bars, full, at, column, middle, config):
            warmup = middle
        else:
            failing = middle
    return warmup


def _recursive(
    strategy: Strategy,
    bars: pd.DataFrame,
    times: pd.Series,
    full: np.ndarray,
    starts: np.ndarray,
    config: LookaheadConfig,
    found: dict[str, Finding],
) -> None:
    names = list(strategy.feature_names)
    declared = strategy.window - 1
    # a feature that reads the future fails here too, for that reason: it is reported once
    reads_future = {f.feature for f in found.values() if f.check == LOOKAHEAD}
    for at in starts:
        part = _features(strategy, bars.iloc[at - declared : at + 1])
        bad = _differs(part[-1], full[at], config)
        for j in np.flatnonzero(bad):
            if names[j] in reads_future:
                continue
            needed = _needed_warmup(strategy, bars, full, int(at), int(j), config)
            known = f"needs a warm-up of {needed} bars" if needed else "needs the whole history"
            _record(
                found,
                Finding(
                    RECURSIVE,
                    names[j],
                    pd.Timestamp(times.iloc[at]),
                    f"declared warm-up {declared} bars is too short: {known} "
                    f"({float(part[-1, j])!r} from {declared} bars, "
                    f"{float(full[at, j])!r} from {at} bars)",
                    needed,
                ),
            )


def analyse_strategy(
    strategy: Strategy,
    bars: pd.DataFrame,
    config: LookaheadConfig | None = None,
    *,
    check_signals: bool = True,
) -> LookaheadReport:
    """Run both checks of ``strategy`` on one symbol's ``bars`` (MT5 rate columns, oldest
    first, a ``time`` column).

    Args:
        check_signals: also compare the signals of a model fitted once on the full history.

    Raises:
        ValueError: fewer bars than twice the strategy's window (nothing to sample).
    """
    config = config or LookaheadConfig()
    bars = bars.sort_values("time", kind="stable").reset_index(drop=True)
    n, window = len(bars), strategy.window
    if n < 2 * window + 2:
        raise ValueError(f"{n} bars: the analysis needs at least {2 * window + 2}")
    times = bars["time"]
    full = _features(strategy, bars)
    signals = _Signals(strategy, bars, full, config) if check_signals else None
    if signals is not None and signals.model is None:
        signals = None
    # cuts from the first full window to one bar before the end (the end is the full history)
    cuts = _sample(window - 1, n - 2, config.cuts)
    # recursive starts leave room for longer warm-ups before them
    starts = _sample(max(2 * window, n // 2), n - 1, config.starts)
    found: dict[str, Finding] = {}
    _lookahead(strategy, bars, times, full, signals, cuts, config, found)
    _recursive(strategy, bars, times, full, starts, config, found)
    findings = sorted(found.values(), key=lambda f: (f.check, f.first_time, f.feature))
    return LookaheadReport(
        strategy=strategy.name,
        declared_warmup=window - 1,
        bars=n,
        cut_times=tuple(pd.Timestamp(times.iloc[c]) for c in cuts),
        start_times=tuple(pd.Timestamp(times.iloc[s]) for s in starts),
        findings=tuple(findings),
        signals_checked=signals is not None,
    )


def report_markdown(reports: Sequence[LookaheadReport]) -> str:
    """A human report of one or more analyses."""
    lines = ["# Look-ahead and warm-up analysis", ""]
    for report in reports:
        verdict = "PASSED" if report.passed else "FAILED"
        lines += [
            f"## {report.strategy}: {verdict}",
            "",
            f"- bars: {report.bars}; declared warm-up: {report.declared_warmup} bars",
            f"- look-ahead: history cut at {len(report.cut_times)} bars "
            f"({', '.join(t.isoformat() for t in report.cut_times)}); "
            f"signals {'compared' if report.signals_checked else 'not compared'}",
            f"- recursive: {len(report.start_times)} bars recomputed from the declared warm-up",
            "",
        ]
        if report.findings:
            lines += ["| check | feature | first timestamp | detail |", "|---|---|---|---|"]
            lines += [
                f"| {f.check} | `{f.feature}` | {f.first_time.isoformat()} | {f.detail} |"
                for f in report.findings
            ]
            lines.append("")
    return "\n".join(lines)
