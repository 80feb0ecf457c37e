"""The worker's breakers, assembled from limits and tied to the journal.

``RiskLimits`` is the plain, frozen description of every limit (``flows/`` maps its
settings onto it; ``serving`` never reads settings). ``WorkerBreakers`` makes one breaker of
each kind; ``JournaledBreakers`` journals every event they emit, rebuilds them from the
journal at start-up and picks up operators' reset requests between bars.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from data_contracts.schema import bar_length
from models.slo import LATENCY_SLO_SECONDS, LATENCY_SLO_TARGET
from serving.ports import BreakerLog
from serving.risk.breakers import (
    BreakerBoard,
    BreakerEvent,
    CircuitBreaker,
    HaltedBreaker,
    LatencyBreaker,
    Now,
)
from serving.risk.daily_loss import DailyLossBreaker
from serving.risk.drift import PSI_THRESHOLD, DriftBreaker
from serving.risk.policy import TRIPPED_POLICIES, TrippedPolicy
from serving.risk.stale_bars import StaleBarBreaker

logger = logging.getLogger(__name__)

REQUEST_POLL_SECONDS = 1.0
"""How often reset requests are read where the journal cannot tell that nothing was written."""

BREAKER_NAMES = ("order_errors", "halted", "latency", "drift", "stale_bars", "daily_loss")
"""The worker's breakers, as journaled, exported and reset (``tate reset-breaker NAME``)."""


@dataclass(frozen=True)
class RiskLimits:
    """Every breaker's limit, the drift sizing and the tripped policy (defaults are
    conservative, not tuned).

    Attributes:
        max_rejections, rejection_window: a burst of rejected orders that trips ``order_errors``.
        latency_slo_seconds, latency_quantile, latency_window, latency_min_samples: the
            decision-latency SLO (``latency`` trips when the quantile of the window exceeds it).
        psi_threshold, psi_window, psi_min_samples, drift_feature: the ``drift`` breaker on
            the key feature (None: the model's first feature).
        drift_sizing: shrink sizes as the PSI rises from 0.1 to ``psi_threshold``
            (``models.sizing.drift_scale``); off, a replay sizes exactly as a backtest.
        stale_bar_factor: periods without a new closed bar, while ticks arrive, that trip
            ``stale_bars``.
        daily_loss_limit, day_roll_hour: ``daily_loss`` (None: measure, never trip).
        tripped_policy: what a trip does to positions already held: hold, reduce or close.
    """

    max_rejections: int = 5
    rejection_window: timedelta = timedelta(minutes=10)
    latency_slo_seconds: float = LATENCY_SLO_SECONDS
    latency_quantile: float = LATENCY_SLO_TARGET
    latency_window: int = 200
    latency_min_samples: int = 50
    psi_threshold: float = PSI_THRESHOLD
    psi_window: int = 500
    psi_min_samples: int = 200
    drift_feature: str | None = None
    drift_sizing: bool = True
    stale_bar_factor: float = 3.0
    daily_loss_limit: float | None = None
    day_roll_hour: int = 0
    tripped_policy: TrippedPolicy = "hold"

    def __post_init__(self) -> None:
        if self.tripped_policy not in TRIPPED_POLICIES:
            raise ValueError(
                f"tripped_policy {self.tripped_policy!r}: expected one of {TRIPPED_POLICIES}"
            )


class WorkerBreakers(BreakerBoard):
    """One breaker of each kind, as typed attributes and as a board: ``order_errors``,
    ``halted``, ``latency``, ``drift``, ``stale_bars`` and ``daily_loss``.

    Args:
        now: the clock every breaker reads.
        timeframe: the bars' timeframe name (the stale-bars limit is in periods).
        limits: every limit.
        order_errors: an order-error breaker the caller made (the worker's ``breaker=``).
    """

    def __init__(
        self,
        now: Now,
        timeframe: str,
        limits: RiskLimits,
        *,
        order_errors: CircuitBreaker | None = None,
    ) -> None:
        self.order_errors = order_errors or CircuitBreaker(
            now, max_rejections=limits.max_rejections, window=limits.rejection_window
        )
        self.halted = HaltedBreaker(now)
        self.latency = LatencyBreaker(
            now,
            slo_seconds=limits.latency_slo_seconds,
            quantile=limits.latency_quantile,
            window=limits.latency_window,
            min_samples=limits.latency_min_samples,
        )
        self.drift = DriftBreaker(
            now,
            feature=limits.drift_feature,
            threshold=limits.psi_threshold,
            window=limits.psi_window,
            min_samples=limits.psi_min_samples,
        )
        self.stale_bars = StaleBarBreaker(
            now, bar_length(timeframe), factor=limits.stale_bar_factor
        )
        self.daily_loss = DailyLossBreaker(
            now, limit=limits.daily_loss_limit, roll_hour=limits.day_roll_hour
        )
        super().__init__(
            [
                self.order_errors,
                self.halted,
                self.latency,
                self.drift,
                self.stale_bars,
                self.daily_loss,
            ]
        )


class JournaledBreakers:
    """Keeps a board and the journal in step: events written, history replayed, requests read.

    Breakers belong to an account (``login@server``): events are journaled under it and a
    restart rebuilds the breakers from that account's events only, so a new simulated account
    starts untripped while a live account's trips survive restarts. Reset requests written
    with account "" — what ``tate reset-breaker`` writes, since the CLI does not know the
    account — are applied by whichever worker runs on the home. Events journaled before
    accounts existed (account "") are history, not state: they are not restored.
    """

    def __init__(
        self,
        board: BreakerBoard,
        journal: BreakerLog,
        account: str = "",
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.board, self.journal, self.account = board, journal, account
        self._seen = 0
        self._monotonic = monotonic
        self._version: tuple[int, int] | None = None  # the journal's, when requests were read
        self._polled = -float("inf")
        for breaker in board:
            breaker.listener = self.record

    def record(self, event: BreakerEvent) -> None:
        """Journal one event (the breakers' listener)."""
        # ``_seen`` is not moved past our own row: a request written meanwhile would be skipped
        self.journal.record_breaker_event(**event._asdict(), account=self.account)

    def restore(self) -> None:
        """Rebuild the breakers from this account's events so far (a restart is not a reset)."""
        rows = self._rows()
        ours = [r for r in rows if r["account"] == self.account or r["event"] == "reset_requested"]
        self.board.restore(BreakerEvent.from_row(row) for row in ours)
        tripped = self.board.reasons()
        if tripped:
            logger.warning("breakers still tripped from before the restart: %s", tripped)

    def apply_reset_requests(self) -> None:
        """Apply reset requests journaled by an operator since the last look.

        Called between bars, so it reads the journal only when something may have been
        written: when the journal's version moved (on SQLite a commit by another connection
        or a request through this journal, not the worker's own events; on PostgreSQL any new
        event); elsewhere every ``REQUEST_POLL_SECONDS``. It reads every event after the last
        one read, not only requests, so the next look starts past the worker's own rows
        instead of reading them again (ids commit in order: see ``_rows``).
        """
        version = self.journal.breaker_events_version()
        if version is None:
            now = self._monotonic()
            if now - self._polled < REQUEST_POLL_SECONDS:
                return
            self._polled = now
        elif version == self._version:
            return
        self._version = version  # read before the rows: a request written meanwhile moves it
        requests = [r for r in self._rows() if r["event"] == "reset_requested"]
        self.board.apply_requests(BreakerEvent.from_row(r) for r in requests)

    def _rows(self) -> list[dict[str, Any]]:
        """This account's events (and requests for any account) not read before.

        The next read starts after the newest id read: the journal commits breaker events in
        the order of their ids (``Journal.record_breaker_event``), so none can appear later
        below it."""
        rows = self.journal.breaker_event_rows(after_id=self._seen, accounts={self.account, ""})
        if rows:
            self._seen = max(self._seen, max(int(row["event_id"]) for row in rows))
        return rows
