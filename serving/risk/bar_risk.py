"""The worker's breaker duties around one bar's decisions: watch, withhold, tripped policy.

Before a bar's decisions the breakers are watched: operator reset requests, the registry's
``halted`` tag, stale bars, the books and the daily loss, in that order. While the bar's
orders go out, a trip by one of them withholds the ones not yet sent (journaled as never
sent). After them, while any breaker is tripped, the tripped policy decides, once per closed
bar and trip, what happens to each role's positions already held; its orders go under their
own intent, named by a ``policy`` row in ``breaker_events``. The decisions themselves feed
the latency and drift breakers (``serving.worker``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import attrgetter

from serving.clocks import Clock
from serving.execution.executor import Target
from serving.identities import make_intent_id
from serving.metrics import WorkerMetrics
from serving.mt5.terminal import Terminal
from serving.registry.source import LoadedModel
from serving.risk.board import JournaledBreakers, RiskLimits, WorkerBreakers
from serving.risk.breakers import BreakerEvent
from serving.risk.policy import policy_target
from serving.risk.positions import BookReader
from serving.roles import Role

_REALISED, _FLOATING = attrgetter("realised"), attrgetter("floating")


class BarRisk:
    """What the breakers ask of the worker on each bar, and the state that spans bars.

    Keeps each symbol's newest closed bar as last watched (which, with the latest trip,
    marks a role's policy as applied for that bar), the day's books as tallied so far, and
    the (bar, trip) each role's policy was last applied for.
    """

    def __init__(
        self,
        breakers: WorkerBreakers,
        journaled: JournaledBreakers,
        limits: RiskLimits,
        metrics: WorkerMetrics,
        clock: Clock,
        account: str,
    ) -> None:
        self.breakers, self.journaled, self.limits = breakers, journaled, limits
        self.metrics, self.clock, self.account = metrics, clock, account
        self._newest_bar: dict[str, int | None] = {}
        self._books = BookReader()  # the day's deals tallied as they come (watch)
        self._policy_done: dict[tuple[str, str], tuple[int | None, datetime | None]] = {}

    def watch(
        self,
        terminal: Terminal,
        symbols: Sequence[str],
        timeframe: int,
        halted: str | None,
        roles_by_magic: Mapping[int, str],
    ) -> None:
        """Reset requests, the halted tag, stale bars and the books (daily loss), in that order."""
        self.journaled.apply_reset_requests()
        self.breakers.halted.observe(halted)  # the registry's reason, None when trading
        for symbol in symbols:
            rates = terminal.copy_rates_from_pos(symbol, timeframe, 1, 1)
            bar = int(rates["time"][-1]) if rates is not None and len(rates) else None
            tick = terminal.symbol_info_tick(symbol)
            self._newest_bar[symbol] = bar
            quote = None if tick is None else (tick.bid, tick.ask)
            self.breakers.stale_bars.observe(symbol, bar, quote)
        loss = self.breakers.daily_loss
        books = self._books.read(terminal, roles_by_magic, loss.day_start(), self.clock.now())
        if books is None:
            return
        self.metrics.set_book(books, symbols)
        pnl = loss.observe(  # sum of a map: the same additions in order, no generator frame
            realised=sum(map(_REALISED, books.values())),
            floating=sum(map(_FLOATING, books.values())),
        )
        self.metrics.daily_pnl.set(pnl)

    def withheld(self) -> str | None:
        """Why the bar's remaining orders must not be sent (a breaker tripped meanwhile)."""
        if not self.breakers.tripped:  # asked before every trade of a bar: mostly no
            return None
        tripped = [f"{b.name}: {b.reason}" for b in self.breakers if b.tripped]
        return "; ".join(tripped) or None

    def policy_order(self, symbol: str, loaded: LoadedModel, trader: Role) -> Target | None:
        """The order bringing a role's held position to what the policy allows, once per
        closed bar and trip (journaled as a ``policy`` breaker event); None when none is due."""
        role, policy = loaded.role, self.limits.tripped_policy
        tripped = [b for b in self.breakers if b.tripped]
        latest_trip = max((b.tripped_at for b in tripped if b.tripped_at), default=None)
        key, marker = (symbol, role), (self._newest_bar.get(symbol), latest_trip)
        if not tripped or self._policy_done.get(key) == marker:
            return None
        broker = trader.account_broker()
        if broker is None:
            return None  # it holds no positions on the account
        self._policy_done[key] = marker
        current = broker.net_position(symbol)
        target = policy_target(current, trader.desired(symbol), policy)
        if abs(target - current) < 1e-9:
            return None
        now = self.clock.now()
        intent_id = make_intent_id(
            f"{loaded.version}-{policy}", role, symbol, int(now.timestamp()), self.account
        )
        why = "; ".join(f"{b.name}: {b.reason}" for b in tripped)
        self.journaled.record(
            BreakerEvent(
                breaker=tripped[0].name,
                event="policy",
                reason=f"{policy} {role} {symbol} {current:+g} -> {target:+g} lots; {why}",
                at=now,
                value=target,
                intent_id=intent_id,
            )
        )
        return Target(broker, symbol, target, intent_id, role)
