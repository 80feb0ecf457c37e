"""The serving worker: per closed bar, resolve → fetch → predict → risk → journal → submit.

The loop reads like the lifecycle (STYLE rule 7); each step is a small function taking its
collaborators. Decisions are made only on *closed* bars (``copy_rates_from_pos(..., 1, n)``;
position 0 is still forming), each (symbol, role) at most once per bar. The intent is
journaled before any order is sent, so every order in the terminal has a journal row that
explains it. The champion trades the full risk budget; the canary a fraction of it under its
own magic number (magic + 1), which only a hedging account can keep apart.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from models.sizing import size_from_confidence
from serving import mt5_constants as mt5
from serving.broker import Mt5Broker, OrderEvent, Outcome
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.model_source import LoadedModel, ModelSource
from serving.risk import CircuitBreaker, PositionCap

logger = logging.getLogger(__name__)

TRADING_ROLES = ("champion", "canary")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time, for a live terminal."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ReplayClock:
    """The replay's time (the forming bar's open); ``sleep`` paces a replay in wall time."""

    def __init__(self, terminal: Any) -> None:
        self.terminal = terminal

    def now(self) -> datetime:
        return datetime.fromtimestamp(int(self.terminal.now), tz=UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def make_intent_id(version: str, role: str, symbol: str, bar_time: int) -> str:
    """Short, deterministic id of one decision's trading intent (fits an MT5 comment)."""
    key = f"{version}-{role}-{symbol}-{bar_time}".encode()
    return hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]


def feature_names(model: Any, count: int) -> tuple[str, ...]:
    """The model's ``feature_names``, or positional names for a model that declares none."""
    names = getattr(model, "feature_names", None)
    if names is None or len(names) != count:
        return tuple(f"f{i}" for i in range(count))
    return tuple(names)


def fetch_closed_window(terminal: Any, symbol: str, timeframe: int, count: int) -> Any:
    """The last ``count`` closed bars (position 1 onward), or None when there are fewer."""
    window = terminal.copy_rates_from_pos(symbol, timeframe, 1, count)
    if window is None or len(window) < count:
        return None
    return window


class Worker:
    """Runs models on closed bars and trades their targets through the broker.

    Args:
        terminal: an object with the MetaTrader5 module's API (``advance()`` if a replay).
        broker: the champion's broker; the canary trades through ``broker.for_magic(magic+1)``.
        journal, model_source, metrics, clock: collaborators (see their modules).
        symbols, timeframe: what to trade, e.g. ("EURUSD",), "H1".
        max_volume: the champion's risk budget in lots at confidence 1.
        canary_fraction: share of ``max_volume`` the canary may trade.
        breaker, position_cap: risk controls (defaults: a breaker on ``clock``; cap = max_volume).
    """

    def __init__(
        self,
        terminal: Any,
        broker: Mt5Broker,
        journal: Journal,
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
    ) -> None:
        self.terminal, self.journal, self.model_source = terminal, journal, model_source
        self.metrics, self.clock, self.symbols = metrics, clock, tuple(symbols)
        self.timeframe = mt5.TIMEFRAMES[timeframe]
        self.max_volume, self.canary_fraction = max_volume, canary_fraction
        self.breaker = breaker or CircuitBreaker(clock.now)
        self.position_cap = position_cap or PositionCap(max_volume)
        self.brokers = {"champion": broker, "canary": broker.for_magic(broker.magic + 1)}
        self._last_bar: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._warned_netting = False
        self.poll_seconds = 1.0

    def stop(self) -> None:
        """Ask ``run`` to return after the current bar (safe from another thread)."""
        self._stop.set()

    def run(self, max_bars: int | None = None, pace_seconds: float = 0.0) -> int:
        """Process closed bars until ``max_bars``, the end of a replay, or ``stop()``.

        Aliases are refreshed between bars only, so one bar is never decided by two versions.
        Returns the number of bars processed.
        """
        processed = 0
        while (max_bars is None or processed < max_bars) and not self._stop.is_set():
            self.model_source.refresh()
            self.metrics.registry_reachable.set(1 if self.model_source.registry_reachable else 0)
            self.process_bar()
            processed += 1
            if not self._next_bar():
                break
            if pace_seconds > 0:
                self.clock.sleep(pace_seconds)
        return processed

    def _next_bar(self) -> bool:
        advance = getattr(self.terminal, "advance", None)
        if advance is not None:
            return bool(advance())
        self.clock.sleep(self.poll_seconds)  # live: poll; bars already seen are skipped
        return True

    def process_bar(self) -> None:
        """Decide (and trade) every symbol for every loaded role on the last closed bar."""
        models = self.model_source.current()
        self.metrics.set_versions({role: m.version for role, m in models.items()})
        self.metrics.circuit_breaker_tripped.set(1 if self.breaker.tripped else 0)
        for symbol in self.symbols:
            for role in sorted(models, key=lambda r: (r != "champion", r)):
                try:
                    self.decide_and_trade(symbol, models[role])
                except Exception:
                    logger.exception("%s %s: decision failed; skipping this bar", role, symbol)
        self.metrics.bars_processed.inc()

    def _can_trade(self, role: str) -> bool:
        if role not in TRADING_ROLES or self.breaker.tripped:
            return False
        if role == "canary":
            account = self.terminal.account_info()
            hedging = (
                account is not None
                and account.margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
            )
            if not hedging and not self._warned_netting:
                logger.warning("netting account: the canary decides but does not trade")
                self._warned_netting = True
            return hedging
        return True

    def decide_and_trade(self, symbol: str, loaded: LoadedModel) -> None:
        model, role = loaded.model, loaded.role
        window = fetch_closed_window(self.terminal, symbol, self.timeframe, int(model.window))
        if window is None:
            return
        bar_time = int(window["time"][-1])
        if self._last_bar.get((symbol, role), -1) >= bar_time:
            return  # no new closed bar for this symbol (weekend, delisted, live polling)
        self._last_bar[(symbol, role)] = bar_time
        started = time.perf_counter()
        decision = model.decide(window)
        latency = time.perf_counter() - started
        self.metrics.observe_decision(role, symbol, latency, float(decision.probability))
        self.metrics.last_bar_timestamp.set(bar_time)
        size = (
            self._size(symbol, role, float(decision.confidence)) if self._can_trade(role) else 0.0
        )
        target = self.position_cap.apply(int(decision.signal) * size)
        intent_id = make_intent_id(loaded.version, role, symbol, bar_time)
        features = np.asarray(decision.features, dtype=np.float64)
        self.journal.record_decision(
            bar_time=datetime.fromtimestamp(bar_time, tz=UTC),
            symbol=symbol,
            role=role,
            model_name=loaded.name,
            model_version=loaded.version,
            features=dict(zip(feature_names(model, len(features)), features.tolist(), strict=True)),
            signal=int(decision.signal),
            confidence=float(decision.confidence),
            size=abs(target),
            intent_id=intent_id,
        )
        if not self._can_trade(role):
            return
        for event in self.brokers[role].rebalance(symbol, target, intent_id=intent_id):
            self._record(event, role)

    def _size(self, symbol: str, role: str, confidence: float) -> float:
        info = self.terminal.symbol_info(symbol)
        if info is None:
            return 0.0
        budget = self.max_volume * (self.canary_fraction if role == "canary" else 1.0)
        return size_from_confidence(
            confidence, max_volume=budget, min_volume=info.volume_min, volume_step=info.volume_step
        )

    def _record(self, event: OrderEvent, role: str) -> None:
        self.journal.record_order_event(
            intent_id=event.intent_id,
            ticket=event.ticket,
            request=event.request,
            retcode=event.retcode,
            state=event.state,
            price=event.price,
            volume=event.volume,
            slippage_points=event.slippage_points,
            latency_seconds=event.latency_seconds,
            at=event.at,
        )
        if event.outcome in (Outcome.FILLED, Outcome.PENDING):
            return
        self.metrics.count_order_error(event.symbol, role, event.retcode)
        if event.outcome is Outcome.OPERATIONAL:
            self.breaker.trip(f"{event.symbol} {role}: retcode {event.retcode} {event.message}")
        elif event.outcome is Outcome.REJECTED:
            self.breaker.record_rejection(f"{event.symbol} {role}: {event.retcode}")
