"""The serving worker: per closed bar, resolve → watch → fetch → predict → risk → journal → submit.

The loop reads like the lifecycle (STYLE rule 7); each step is a small function taking its
collaborators. Decisions are made only on *closed* bars (``copy_rates_from_pos(..., 1, n)``;
position 0 is still forming), each (symbol, role) at most once per bar. Every (symbol, role)
is decided first; then one transaction journals the bar's decisions, intents and orders before
its first order is sent, and one more its answers (``serving.execution.executor``), so every order in
the terminal has a journal row that explains it. Every row carries the account
(``login@server``). The champion trades the full risk budget; the canary a fraction of it
under its own magic number (magic + 1), which only a hedging account can keep apart: on a netting
account the canary trades a shadow SimTerminal instead (``shadow_terminal``; journal role
``shadow``), whose paper orders never enter the account's book. Which of these each role does is
fixed once, at start-up, from the account's margin mode (``serving.roles``).

Circuit breakers are watched before the decisions of each pass and a trip withholds the bar's
orders not yet sent (``serving.risk.bar_risk``); the decisions feed the latency and drift
breakers. While any breaker is tripped, decisions are still made and journaled (size 0: no new
exposure) and the tripped policy decides, once per closed bar, what happens to positions held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from models.sizing import DRIFT_FULL_SIZE_BELOW, size_from_confidence
from serving.account_facts import record_account
from serving.clocks import Clock, ReplayClock, SystemClock
from serving.execution.executor import OrderExecutor, Target
from serving.execution.trades import bar_datetime
from serving.identities import login_at_server, make_intent_id
from serving.journal import JournalWrites
from serving.journal_writes import decision_values, new_decision_id, stored_features
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.mt5.terminal import ReplayTerminal, Terminal
from serving.ports import Broker, WorkerJournal
from serving.recorded_orders import OrderRecorder
from serving.registry.source import LoadedModel, Model, ModelSource
from serving.risk.bar_risk import BarRisk
from serving.risk.board import JournaledBreakers, RiskLimits, WorkerBreakers
from serving.risk.drift_feed import DriftFeed, DriftReference
from serving.risk.policy import CircuitBreaker, PositionCap, drift_scale
from serving.roles import TRADING_ROLES, DecideOnlyRole, Role, choose_roles, is_hedging

__all__ = ["Clock", "ReplayClock", "SystemClock", "Worker"]

logger = logging.getLogger(__name__)


def feature_names(model: Model, count: int) -> tuple[str, ...]:
    """The model's ``feature_names``, or positional names for a model that declares none."""
    names = getattr(model, "feature_names", None)
    if names is None or len(names) != count:
        return tuple(f"f{i}" for i in range(count))
    return tuple(names)


def fetch_closed_window(
    terminal: Terminal, symbol: str, timeframe: int, count: int
) -> np.ndarray | None:
    """The last ``count`` closed bars (position 1 onward), or None when there are fewer."""
    window = terminal.copy_rates_from_pos(symbol, timeframe, 1, count)
    if window is None or len(window) < count:
        return None
    return window


class Worker:
    """Runs models on closed bars and trades their targets through the broker.

    Args:
        terminal: the MetaTrader5 API (``serving.mt5.terminal``; ``advance()`` if a replay).
        broker: the champion's broker; the canary trades through ``broker.for_magic(magic+1)``
            on a hedging account, else through it on ``shadow_terminal`` if one is given
            (``serving.roles``: chosen once, from the account's margin mode at start-up).
        journal, model_source, metrics, clock: collaborators (see their modules).
        symbols, timeframe: what to trade, e.g. ("EURUSD",), "H1".
        max_volume: the champion's risk budget in lots at confidence 1.
        canary_fraction: share of ``max_volume`` the canary may trade.
        breaker, position_cap: the order-error breaker (default: one from ``limits``) and the
            position cap (default: ``max_volume``).
        limits: every breaker's limit and the tripped policy (``RiskLimits()``).
        drift_reference: the key feature's reference sample for a loaded champion (default:
            a warm-up reference, see ``serving.risk.drift``).
        timer: measures decision latency (``time.perf_counter``; a fake in tests).
        refresh_every_bars: re-read the model source every N bars (1: every bar). A fast
            replay sets more, so the registry is not asked per bar; a swap still lands on a
            bar boundary, the same one in every replay.

    Breakers tripped before a restart are still tripped after it (rebuilt from the journal).
    """

    def __init__(
        self,
        terminal: Terminal,
        broker: Broker,
        journal: WorkerJournal,
        model_source: ModelSource,
        metrics: WorkerMetrics,
        clock: Clock,
        symbols: Sequence[str],
        timeframe: str,
        *,
        max_volume: float = 1.0,
        canary_fraction: float = 0.05,
        breaker: CircuitBreaker | None = None,
        position_cap: PositionCap | None = None,
        limits: RiskLimits | None = None,
        drift_reference: DriftReference | None = None,
        timer: Callable[[], float] = time.perf_counter,
        shadow_terminal: ReplayTerminal | None = None,
        refresh_every_bars: int = 1,
    ) -> None:
        if refresh_every_bars < 1:
            raise ValueError(f"refresh_every_bars must be at least 1, not {refresh_every_bars}")
        self.terminal, self.journal, self.model_source = terminal, journal, model_source
        self.metrics, self.clock, self.symbols = metrics, clock, tuple(symbols)
        self.timeframe = mt5.TIMEFRAMES[timeframe]
        self.max_volume, self.canary_fraction = max_volume, canary_fraction
        self.position_cap = position_cap or PositionCap(max_volume)
        self.brokers = {"champion": broker, "canary": broker.for_magic(broker.magic + 1)}
        self._by_magic = {self.brokers[r].magic: r for r in TRADING_ROLES}  # the books, by magic
        self.shadow_terminal = shadow_terminal
        account = terminal.account_info()  # its margin mode fixes how each role trades
        self.account = login_at_server(account)
        record_account(journal.engine, account, clock.now())  # once: what status values it in
        self.limits = limits or RiskLimits()
        self.breakers = WorkerBreakers(clock.now, timeframe, self.limits, order_errors=breaker)
        self.breaker = self.breakers.order_errors
        self._record = OrderRecorder(metrics, self.breaker, self.account, logger)
        self.orders_sent = self._record.sent  # order events, by journal role
        self.roles: dict[str, Role] = choose_roles(
            is_hedging(account),
            self.brokers,
            canary_fraction=canary_fraction,
            shadow=None
            if shadow_terminal is None
            else broker.for_magic(broker.magic + 1, shadow_terminal),
            record=self._record,
            log=logger,
        )
        self._journaled = JournaledBreakers(self.breakers, journal, self.account)
        self._journaled.restore()
        self.risk = BarRisk(
            self.breakers, self._journaled, self.limits, metrics, clock, self.account
        )
        self.metrics.set_breakers(self.breakers.states())
        self._timer = timer
        self.drift = DriftFeed(
            self.breakers.drift, metrics, self.limits.drift_feature, drift_reference, logger
        )
        self.metrics.latency_slo_seconds = self.limits.latency_slo_seconds  # SLO good/bad
        self._last_bar: dict[tuple[str, str], int] = {}
        self._names: dict[str, tuple[Model, int, tuple[str, ...]]] = {}  # _feature_names
        self._bar_stamp: int | None = None  # what last_bar_timestamp was last set to
        self._stop = threading.Event()
        self.poll_seconds = 1.0
        self.executor = OrderExecutor(journal, terminal, account=self.account, now=clock.now)
        self.refresh_every_bars = refresh_every_bars
        self.no_model: str | None = None  # why nothing trades, while no role has a model
        self.decided: Counter[str] = Counter()  # decisions journaled, by journal role

    def reset_breaker(self, name: str, by: str) -> bool:
        """Reset one breaker by name on behalf of ``by`` (journaled); True if it was tripped.
        From another process, ``Journal.request_breaker_reset`` does the same between bars."""
        reset = self.breakers.reset(name, by)
        self.metrics.set_breakers(self.breakers.states())
        return reset

    def stop(self) -> None:
        """Ask ``run`` to return after the current bar (safe from another thread)."""
        self._stop.set()

    def run(
        self,
        max_bars: int | None = None,
        pace_seconds: float = 0.0,
        on_bar: Callable[[], None] | None = None,
    ) -> int:
        """Process closed bars until ``max_bars``, the end of a replay, or ``stop()``.

        Aliases are refreshed between bars only (every ``refresh_every_bars``), so one bar is
        never decided by two versions. ``on_bar`` is told after each bar (progress for a
        person). Returns the number of bars processed.
        """
        self.executor.start_up(b.magic for b in self.brokers.values())  # before any signal
        processed = 0
        while (max_bars is None or processed < max_bars) and not self._stop.is_set():
            if processed % self.refresh_every_bars == 0:
                self.refresh_models()
            self.process_bar()
            processed += 1
            if on_bar is not None:
                on_bar()
            if not self._next_bar():
                break
            if pace_seconds > 0:
                self.clock.sleep(pace_seconds)
        return processed

    def refresh_models(self) -> None:
        """Re-read the model source; say once, loudly, when no role has a model to trade."""
        source = self.model_source
        source.refresh()
        self.metrics.registry_reachable.set(1 if source.registry_reachable else 0)
        self.metrics.count_load_failures(source.failures)
        if source.current():
            if self.no_model is not None:
                logger.info("trading resumes: %s", ", ".join(sorted(source.current())))
            self.no_model = None
            return
        reasons = "; ".join(source.unavailable.values())
        if not source.registry_reachable:
            reasons = reasons or "the model registry is unreachable"
        reason = f"no model to trade, refusing: {reasons or 'no role has a model'}"
        if reason != self.no_model:
            logger.error(reason)
        self.no_model = reason
        self.metrics.set_refusing(reason)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per journal role: decisions made and order events journaled in this process."""
        roles = sorted(set(self.decided) | set(self.orders_sent))
        return {r: {"decided": self.decided[r], "orders": self.orders_sent[r]} for r in roles}

    def _next_bar(self) -> bool:
        advance = getattr(self.terminal, "advance", None)
        if advance is not None:
            more = bool(advance())
        else:
            self.clock.sleep(self.poll_seconds)  # live: poll; bars already seen are skipped
            more = True
        if self.shadow_terminal is not None:
            self.shadow_terminal.advance()  # after the market moved: the shadow follows it
        return more

    def process_bar(self) -> None:
        """Watch the breakers, decide (and trade) every symbol for every loaded role on the
        last closed bar, then apply the tripped policy if any breaker is tripped."""
        models = self.model_source.current()
        self.metrics.set_versions({role: m.version for role, m in models.items()})
        try:
            self.watch()
        except Exception:
            logger.exception("watching the breakers failed; deciding on what is known")
        roles = sorted(models, key=lambda r: (r != "champion", r))
        writes = JournalWrites()
        targets: list[Target] = []
        for symbol in self.symbols:
            windows: dict[int, np.ndarray | None] = {}  # the roles' windows, fetched once
            for role in roles:
                try:
                    target = self.decide(symbol, models[role], writes, windows)
                except Exception:
                    logger.exception("%s %s: decision failed; skipping this bar", role, symbol)
                    continue
                if target is not None:
                    targets.append(target)
        try:
            self.executor.trade(targets, writes, record=self._record, withhold=self.risk.withheld)
        except Exception:
            logger.exception("trading this bar failed; its open orders are reconciled next")
        self.drift.evaluate()
        if self.breakers.tripped and self.limits.tripped_policy != "hold":
            for symbol in self.symbols:
                for role in roles:
                    try:
                        self.apply_tripped_policy(symbol, models[role])
                    except Exception:
                        logger.exception("%s %s: tripped policy failed; next bar", role, symbol)
        self.metrics.set_breakers(self.breakers.states())
        self.metrics.set_refusing(self.executor.refusing or self.no_model)
        self.metrics.count_bars(1)

    def watch(self) -> None:
        """Reset requests, the halted tag, stale bars and the books (daily loss), in that order."""
        halted = self.model_source.halted
        self.risk.watch(self.terminal, self.symbols, self.timeframe, halted, self._by_magic)

    def apply_tripped_policy(self, symbol: str, loaded: LoadedModel) -> None:
        """Bring a role's held position to what the tripped policy allows (``BarRisk``)."""
        target = self.risk.policy_order(symbol, loaded, self._role(loaded.role))
        if target is not None:
            self.executor.trade([target], record=self._record)

    def _role(self, name: str) -> Role:
        """How the role trades: fixed at start-up for the trading roles; others decide only."""
        role = self.roles.get(name)
        if role is None:
            role = self.roles[name] = DecideOnlyRole(name)
        return role

    def decide(
        self,
        symbol: str,
        loaded: LoadedModel,
        writes: JournalWrites,
        windows: dict[int, np.ndarray | None] | None = None,
    ) -> Target | None:
        """Decide one role on the symbol's last closed bar: the decision row goes to
        ``writes`` (the bar's first transaction); returns the target to trade, if any.

        ``windows`` holds the symbol's closed windows this pass has fetched, by length: roles
        of the same window length share one fetch (a copy of the bars each), and so decide
        the same bars even if a live bar closes between the two. (A model reads its window;
        none of ``models.strategies`` writes to it.)"""
        model, role = loaded.model, loaded.role
        count = int(model.window)
        if windows is None or count not in windows:
            window = fetch_closed_window(self.terminal, symbol, self.timeframe, count)
            if windows is not None:
                windows[count] = window
        else:
            window = windows[count]
        if window is None:
            return None
        bar_time = int(window["time"][-1])
        if self._last_bar.get((symbol, role), -1) >= bar_time:
            return None  # no new closed bar for this symbol (weekend, delisted, live polling)
        self._last_bar[(symbol, role)] = bar_time
        started = self._timer()
        decision = model.decide(window)
        latency = self._timer() - started
        self.metrics.observe_decision(role, symbol, latency, float(decision.probability))
        if bar_time != self._bar_stamp:  # the bar's other roles and symbols seldom move it
            self._bar_stamp = bar_time
            self.metrics.last_bar_timestamp.set(bar_time)
        self.breakers.latency.observe(latency)
        values = np.asarray(decision.features, dtype=np.float64).tolist()  # Python floats
        names = self._feature_names(role, model, len(values))
        if role == "champion":
            self.drift.observe(loaded, names, values)
        trader = self.roles.get(role) or self._role(role)
        tradable = trader.tradable()
        confidence = float(decision.confidence)
        signal = int(decision.signal)
        size = self._size(symbol, role, confidence, loaded.risk_fraction) if tradable else 0.0
        target = self.position_cap.apply(signal * size)
        trader.decided(symbol, target)
        tripped = self.breakers.tripped
        journal_role = trader.journal_role
        intent_id = make_intent_id(loaded.version, journal_role, symbol, bar_time, self.account)
        writes.add_decision_row(
            decision_values(
                new_decision_id(),
                bar_datetime(bar_time),  # UTC
                symbol,
                journal_role,
                loaded.name,
                str(loaded.version),
                stored_features(names, values),
                signal,
                confidence,
                0.0 if tripped else float(abs(target)),
                intent_id,
                self.account,
                float(latency),
            )
        )
        self.decided[journal_role] += 1
        if not tradable or tripped:
            return None  # a tripped worker's positions are the policy's business
        return trader.order(symbol, target, intent_id, bar_time, writes)

    def _feature_names(self, role: str, model: Model, count: int) -> tuple[str, ...]:
        """``feature_names`` of the role's model, worked out once per model: a role's model
        changes only when the source swaps it (a new object), which is what invalidates the
        kept names, as does a decision with another number of features."""
        kept = self._names.get(role)
        if kept is None or kept[0] is not model or kept[1] != count:
            kept = self._names[role] = (model, count, feature_names(model, count))
        return kept[2]

    def _size(
        self, symbol: str, role: str, confidence: float, fraction: float | None = None
    ) -> float:
        """Lots from confidence, shrunk by the drift score, on the broker's grid and budget
        (the canary's: its version's fraction tag when the gate widened it)."""
        info = self.terminal.symbol_info(symbol)
        if info is None:
            return 0.0
        share = fraction if role == "canary" and fraction is not None else self._role(role).budget
        budget = self.max_volume * share
        scale = 1.0
        if self.limits.drift_sizing:
            score = self.breakers.drift.score
            if score > DRIFT_FULL_SIZE_BELOW:  # at or below it, or NaN, drift_scale is 1
                scale = drift_scale(score, zero_at=self.limits.psi_threshold)
        return size_from_confidence(
            confidence * scale,
            max_volume=budget,
            min_volume=info.volume_min,
            volume_step=info.volume_step,
        )
