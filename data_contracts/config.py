"""What the data contracts tolerate, in one frozen object built at the entry point.

Thresholds live here rather than in the checks so a desk can tighten or relax them without
touching code, and so a validation result can say exactly which settings judged it.

Severity decides what a failure does: ``error`` on a row-level check quarantines the rows
(training reads the store minus the quarantine); ``error`` on a dataset-level check blocks
training; ``warn`` is reported only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Literal

from data_contracts.calendar_sessions import CalendarSession
from data_contracts.sessions import ANNUAL_FX_HOLIDAYS, FX_SESSION, TradingSession

Severity = Literal["error", "warn"]
Session = TradingSession | CalendarSession
"""A weekly window (FX, metals) or an exchange calendar (exchange-traded CFDs)."""

# Checks that judge single rows: their error-level failures become quarantine entries.
# ``not_null:*``, ``positive:*`` and ``non_negative:*`` are matched by prefix.
ROW_CHECKS: frozenset[str] = frozenset(
    {
        "high_ge_open_close",
        "low_le_open_close",
        "unique_time",
        "increasing_time",
        "gap",
        "spike",
        "stale",
        "zero_volume",
        "spread_outlier",
        "outside_session",
        "misaligned_time",
    }
)
ROW_CHECK_PREFIXES: tuple[str, ...] = ("not_null:", "positive:", "non_negative:")

# Defaults: a gap or a blown-out spread can be real market life (a feed outage, news), so
# they are reported; everything else on a row is wrong data and must not reach training.
DEFAULT_SEVERITY: Mapping[str, Severity] = MappingProxyType(
    {"gap": "warn", "spread_outlier": "warn"}
)


@dataclass(frozen=True)
class ContractConfig:
    """Thresholds, calendars and severities of the bar and universe contracts.

    Attributes:
        spike_threshold: robust z-score (median/MAD of log returns) above which a return is
            a candidate spike.
        spike_revert_bars: a candidate is a spike only if price comes back within this many
            bars (``k``); a jump that stays is a move, not bad data.
        spike_revert_fraction: "comes back" = within this fraction of the jump.
        spike_window: bars per block whose MAD scales the returns (volatility clusters).
        stale_bars: ``N``, consecutive zero-tick bars repeating the previous close.
        spread_threshold: robust z-score of the log spread (centred per UTC hour) above which
            a spread is an outlier.
        gap_tolerance_bars: missing in-session bars tolerated between two bars.
        max_quarantine_share: a symbol with more of its rows quarantined blocks training.
        holidays: dates (in each session's clock) on which the market is closed; weekly
            sessions only (a calendar session brings its own holidays).
        annual_holidays: (month, day) closed every year; weekly sessions only.
        default_session: session of symbols not named in ``sessions``.
        sessions: symbol → session: a weekly window or an exchange calendar.
        real_volume_symbols: symbols whose venue reports ``real_volume`` (0 there is a defect).
        severity: check → severity overrides (exact check name, e.g. ``"gap"``, ``"not_null:close"``).
    """

    spike_threshold: float = 12.0
    spike_revert_bars: int = 3
    spike_revert_fraction: float = 0.5
    spike_window: int = 500
    stale_bars: int = 3
    spread_threshold: float = 9.0
    gap_tolerance_bars: int = 0
    max_quarantine_share: float = 0.01
    holidays: frozenset[date] = frozenset()
    annual_holidays: frozenset[tuple[int, int]] = ANNUAL_FX_HOLIDAYS
    default_session: TradingSession = FX_SESSION
    sessions: Mapping[str, Session] = field(default_factory=dict)
    real_volume_symbols: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.spike_threshold <= 0 or self.spread_threshold <= 0:
            raise ValueError("spike_threshold and spread_threshold must be positive")
        if (
            self.spike_revert_bars < 1
            or self.stale_bars < 1
            or self.spike_window < 2
            or self.gap_tolerance_bars < 0
        ):
            raise ValueError(
                "spike_revert_bars, stale_bars ≥ 1, spike_window ≥ 2, gap_tolerance_bars ≥ 0"
            )
        if not 0.0 <= self.max_quarantine_share <= 1.0:
            raise ValueError("max_quarantine_share must lie in [0, 1]")
        bad = {k: v for k, v in self.severity.items() if v not in ("error", "warn")}
        if bad:
            raise ValueError(f"severity must be 'error' or 'warn', got {bad}")
        # Freeze the mappings too, so a shared config cannot be edited under a running check.
        object.__setattr__(self, "sessions", MappingProxyType(dict(self.sessions)))
        object.__setattr__(self, "severity", MappingProxyType(dict(self.severity)))

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready form (sorted), so equal configs serialise identically."""

        def session(s: Session) -> dict[str, Any]:
            if isinstance(s, CalendarSession):
                return asdict(s)
            return {
                **asdict(s),
                "open_time": s.open_time.isoformat(),
                "close_time": s.close_time.isoformat(),
            }

        return {
            "spike_threshold": self.spike_threshold,
            "spike_revert_bars": self.spike_revert_bars,
            "spike_revert_fraction": self.spike_revert_fraction,
            "spike_window": self.spike_window,
            "stale_bars": self.stale_bars,
            "spread_threshold": self.spread_threshold,
            "gap_tolerance_bars": self.gap_tolerance_bars,
            "max_quarantine_share": self.max_quarantine_share,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "annual_holidays": sorted([m, d] for m, d in self.annual_holidays),
            "default_session": session(self.default_session),
            "sessions": {k: session(v) for k, v in sorted(self.sessions.items())},
            "real_volume_symbols": sorted(self.real_volume_symbols),
            "severity": dict(sorted(self.severity.items())),
        }

    def session_for(self, symbol: str) -> Session:
        """The trading session of ``symbol`` (the default one unless configured)."""
        return self.sessions.get(symbol, self.default_session)

    def severity_of(self, check: str) -> Severity:
        """Configured severity of ``check``; every check is ``error`` unless said otherwise."""
        return self.severity.get(check, DEFAULT_SEVERITY.get(check, "error"))


def is_row_check(check: str) -> bool:
    """True for checks that point at rows (quarantinable), False for dataset-level ones.

    ``not_null:time`` is dataset-level: a bar without a time cannot be named by a time range,
    so it cannot be quarantined, only fixed at the source.
    """
    if check == "not_null:time":
        return False
    return check in ROW_CHECKS or check.startswith(ROW_CHECK_PREFIXES)
