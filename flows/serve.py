"""Launch the serving worker: pick the terminal, assemble the worker's collaborators, run it.

The terminal itself (a SimTerminal replaying the champion's hold-out, MT5 or an mt5linux bridge,
and a netting account's shadow) is chosen in `flows/terminals.py`; this module holds the account
lock, /metrics, the journal and the model source around it, and runs the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from flows import tracking
from flows.errors import (
    BadOptionError,
    BadSettingError,
    NothingServedError,
    TerminalUnavailableError,
    TrackingServerUnreachableError,
)
from flows.progress import stage_progress
from flows.settings import TateSettings
from flows.terminals import live_shadow, live_terminal, sim_terminal
from serving.account_lock import AccountLock, AdvisoryAccountLock, HeldLock
from serving.execution.broker import Mt5Broker
from serving.identities import account_key
from serving.journal import Journal
from serving.journal_integrity import admit_journal, note_journal, replace_journal
from serving.lock_watch import LockWatch
from serving.metrics import WorkerMetrics, serve_metrics
from serving.mt5.terminal import Terminal
from serving.registry.reader import RegistryUnreachableError, registry_reader
from serving.registry.references import TrainingReferences
from serving.registry.signatures import KeyRing
from serving.registry.source import AliasPoller, BackgroundPoller, ModelSource
from serving.risk.board import RiskLimits
from serving.sim.terminal import SimTerminal
from serving.worker import Clock, ReplayClock, SystemClock, Worker

logger = logging.getLogger(__name__)
PROGRESS_LOG = logging.getLogger("tate.replay")


def require_registry(settings: TateSettings) -> None:
    """Ask the registry once, with a short time limit, before a terminal is touched: a server
    that does not answer is said as such, not as a model without a champion.

    Raises:
        TrackingServerUnreachableError: naming the URI (its password is masked when printed).
    """
    uri = tracking.tracking_uri(settings)
    try:
        registry_reader(uri).snapshot(settings.model_name)
    except RegistryUnreachableError as error:
        cause = error.__cause__
        why = type(cause).__name__ if cause is not None else str(error).rsplit(": ", 1)[-1]
        raise TrackingServerUnreachableError(
            f"the model registry at {uri} did not answer ({why}); start it (`tate up`) or "
            "fix MLFLOW_TRACKING_URI"
        ) from None


def lock_account(settings: TateSettings, term: Terminal) -> HeldLock:
    """This worker's hold on its account (``login@server``) for as long as it runs: a file
    lock under ``TATE_HOME``, or, with the journal on PostgreSQL (which workers on several
    hosts may share), an advisory lock in that database.

    Raises:
        AccountLockedError: another worker trades the account (its pid and start time named);
            the terminal is shut down first.
    """
    account, now = account_key(term), datetime.now(UTC)
    try:
        if make_url(settings.journal).get_backend_name() == "postgresql":
            return AdvisoryAccountLock.acquire(settings.journal, account, now=now)
        return AccountLock.acquire(settings.locks_dir, account, now=now)
    except BaseException:
        term.shutdown()
        raise


def start_metrics(
    settings: TateSettings, metrics: WorkerMetrics, port: int, *, from_option: bool
) -> Any:
    """The /metrics server, or one line naming the port and where it was set.

    Raises:
        BadSettingError: the port cannot be bound (taken since the CLI checked it, say).
    """
    try:
        return serve_metrics(metrics, port, settings.metrics_host)
    except OSError as error:
        where = "--metrics-port" if from_option else "TATE_METRICS_PORT"
        raise BadSettingError(
            f"{where}={port}: cannot serve /metrics on {settings.metrics_host}:{port} "
            f"({error.strerror or error}); choose another port with {where}"
        ) from None


LIVE_SETTLE_SECONDS = 1.5


def risk_limits(settings: TateSettings) -> RiskLimits:
    """The worker's breaker limits and tripped policy from `TATE_*` settings."""
    return RiskLimits(
        latency_slo_seconds=settings.latency_slo_seconds,
        psi_threshold=settings.psi_threshold,
        drift_sizing=settings.drift_sizing,
        daily_loss_limit=settings.daily_loss_limit,
        tripped_policy=settings.tripped_policy,  # type: ignore[arg-type]  # validated there
    )


def model_source(settings: TateSettings, *, background: bool) -> ModelSource:
    """Aliases polled on a background thread (live, paced) or between bars (a fast replay).

    A replay at full speed polls between bars so an alias move is traded from the next bar
    deterministically; anything facing a clock polls off the hot path every `poll_seconds`.
    """
    poller = AliasPoller.for_registry(
        settings.model_name,
        tracking.tracking_uri(settings),
        ring=KeyRing(settings.trusted_key_locations, frozenset(settings.revoked_keys)),
        cache_dir=settings.run_dir / "models",
    )
    if not background:
        return poller
    return BackgroundPoller(poller, settings.poll_seconds).start()


def run_worker(
    settings: TateSettings,
    *,
    terminal: str = "sim",
    max_bars: int | None = None,
    pace_seconds: float = 0.0,
    metrics_port: int | None = None,
    start: datetime | None = None,
    new_journal_by: str | None = None,
    simulate_live: bool = False,
) -> str:
    """Run the worker until the replay ends (sim), `max_bars`, or an interrupt; return a summary.

    With `simulate_live` (sim), the replay does not end: after the stored bars the terminal
    follows a simulated live market (`simulated_live_market`), as the worker `tate up` starts.

    The journal is checked first (``serving.journal_integrity``): a missing, empty or corrupt
    one where a journal existed is refused; ``new_journal_by`` moves it aside and starts anew.
    """
    if terminal not in ("sim", "mt5", "mt5linux"):
        raise BadOptionError(f"unknown terminal {terminal!r}: expected sim, mt5 or mt5linux")
    if new_journal_by is None:
        admit_journal(settings.journal, settings.home)
    require_registry(settings)
    clock: Clock
    term: Terminal
    shadow: SimTerminal | None = None
    if terminal == "sim":
        sim, symbols = sim_terminal(settings, start, live=simulate_live)
        if sim.account_mode == "netting":  # the same seed: the shadow sees the same live bars
            shadow, _ = sim_terminal(settings, start, account_mode="hedging", live=simulate_live)
            shadow.initialize()
        term, clock = sim, ReplayClock(sim)
    else:
        term, symbols = live_terminal(settings, terminal), settings.symbols
        clock = SystemClock()
    if not term.initialize():
        raise TerminalUnavailableError(
            f"{terminal} terminal did not initialize: {term.last_error()}"
        )
    if term.account_info() is None:
        # every journal row and reconciliation is scoped to login@server: without it the
        # worker would take another account's (or no account's) book for its own
        raise TerminalUnavailableError(
            f"{terminal} terminal has no account (not logged in?): {term.last_error()}"
        )
    lock = lock_account(settings, term)
    try:
        if terminal != "sim":
            shadow = live_shadow(term, symbols, settings)
        metrics = WorkerMetrics()
        port = settings.metrics_port if metrics_port is None else metrics_port
        server = start_metrics(settings, metrics, port, from_option=metrics_port is not None)
        journal = open_journal(settings, new_journal_by)
        source = model_source(settings, background=terminal != "sim" or pace_seconds > 0)
    except BaseException:
        lock.release()
        term.shutdown()
        raise
    worker = Worker(
        term,
        Mt5Broker(
            term,
            magic=settings.magic,
            deviation=settings.deviation_points,
            now=clock.now,
            sleep=clock.sleep,
            # a live server may show an order in history a moment after a lost reply
            settle_seconds=0.0 if terminal == "sim" else LIVE_SETTLE_SECONDS,
        ),
        journal,
        source,
        metrics,
        clock,
        symbols,
        settings.timeframe,
        max_volume=settings.max_volume,
        canary_fraction=settings.canary_fraction,
        limits=risk_limits(settings),
        drift_reference=TrainingReferences(tracking.tracking_uri(settings)),
        shadow_terminal=shadow,
        # a full-speed replay asks the registry every N bars; a paced or live one polls in
        # the background, so refreshing on the worker's thread is free
        refresh_every_bars=settings.replay_refresh_bars if terminal == "sim" else 1,
    )
    logger.info(
        "worker: %s terminal, symbols %s, /metrics on port %s",
        terminal,
        symbols,
        server.server_port,
    )
    watch = LockWatch(lock, worker.stop)  # a lost lock stops the worker before its next bar
    try:
        total = replay_length(term, max_bars)
        label = "replay" if terminal == "sim" else "bars"
        # "tate.…": the demo's stderr lines (`flows.plain_runs`), else the JSON logs' root
        with stage_progress(label, total, log=PROGRESS_LOG, unit="bars") as advance:

            def on_bar() -> None:
                advance()
                watch()

            bars = worker.run(max_bars=max_bars, pace_seconds=pace_seconds, on_bar=on_bar)
    except KeyboardInterrupt:
        worker.stop()
        bars = -1
    finally:
        if isinstance(source, BackgroundPoller):
            source.stop()
        server.shutdown()
        server.server_close()
        journal.close()
        term.shutdown()
        lock.release()
    if watch.lost is not None:
        raise watch.lost  # exit 1, its one line as the message (the ERROR already logged)
    summary = describe_run(bars, terminal, symbols, worker.summary())
    if not worker.decided:
        raise NothingServedError(
            f"{summary}\nno role decided a single bar: {worker.no_model or 'no model loaded'}"
        )
    return summary


def replay_length(term: Terminal, max_bars: int | None) -> int | None:
    """Bars the worker will process, when known: a replay's remaining bars, capped by
    ``max_bars``; ``max_bars`` alone on a live terminal (None: until stopped)."""
    left = term.bars_left() if isinstance(term, SimTerminal) else None
    if left is None:
        return max_bars
    return left if max_bars is None else min(left, max_bars)


def open_journal(settings: TateSettings, new_journal_by: str | None) -> Journal:
    """The journal, opened under the account's lock; with ``new_journal_by`` the old file is
    moved aside first. The marker then knows it; a fresh start is said in the log as well."""
    moved = None
    if new_journal_by is not None:
        moved = replace_journal(settings.journal, settings.home, at=datetime.now(UTC))
    journal = Journal(settings.journal)
    note_journal(
        settings.journal,
        settings.home,
        at=datetime.now(UTC),
        by=new_journal_by or "",
        replaced=moved,
    )
    if new_journal_by is not None:
        logger.warning(
            "new journal %s started by %s; the old one %s",
            settings.journal_label,
            new_journal_by,
            f"moved to {moved}" if moved else "did not exist",
        )
    return journal


def describe_run(
    bars: int, terminal: str, symbols: Sequence[str], roles: dict[str, dict[str, int]]
) -> str:
    """The closing line: bars, terminal, symbols, and per role decisions and orders."""
    per_role = "; ".join(
        f"{role}: {counts['decided']} decisions, {counts['orders']} orders"
        for role, counts in roles.items()
    )
    return (
        f"{bars} closed bars on {terminal}, symbols {', '.join(symbols)}; "
        f"{per_role or 'no role decided anything'}"
    )
