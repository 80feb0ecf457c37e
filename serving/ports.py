"""The worker's ports: what it and the pieces it builds call on a broker and on the journal.

``Worker`` (and ``OrderExecutor``, ``JournaledBreakers``, ``IntentJournal`` behind it) take these
protocols, not ``Mt5Broker`` and ``Journal``, so a test can hand in a look-alike and mypy checks
that the real classes still fit. The terminal's port is ``serving.mt5.terminal.Terminal``; the
model's is ``serving.registry.source.Model``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from serving.execution.events import OrderEvent
from serving.execution.intents import OrderLog, PlannedOrder
from serving.journal import JournalWrites
from serving.mt5.terminal import Terminal


class Broker(Protocol):
    """Brings one magic number's net position in a symbol to a target (``Mt5Broker``)."""

    @property
    def magic(self) -> int: ...

    def for_magic(self, magic: int, terminal: Terminal | None = None) -> Broker:
        """The same broker under another magic, on another terminal if given."""
        ...

    def net_position(self, symbol: str) -> float:
        """Signed lots held under this magic (buy positive)."""
        ...

    def plan(
        self, symbol: str, target_volume: float, *, intent_id: str, first_seq: int = 0
    ) -> list[PlannedOrder] | None:
        """The orders that reach ``target_volume``; None when the symbol cannot be read."""
        ...

    def submit(
        self, order: PlannedOrder, *, filling: int, point: float, log: OrderLog
    ) -> OrderEvent:
        """One planned order to its last word."""
        ...

    def rebalance(
        self, symbol: str, target_volume: float, *, intent_id: str, log: OrderLog | None = None
    ) -> list[OrderEvent]:
        """Plan and send at once, without the executor's journal (the shadow's paper orders)."""
        ...


class JournalDatabase(Protocol):
    """The journal as the executor's intent store uses it: its engine, and one commit per batch."""

    @property
    def engine(self) -> Engine: ...

    def commit(self, writes: JournalWrites) -> None: ...


class BreakerLog(Protocol):
    """The journal as the breakers use it: events written, and read back after an id."""

    def record_breaker_event(
        self,
        *,
        breaker: str,
        event: str,
        reason: str,
        at: datetime,
        by: str,
        value: float | None = None,
        intent_id: str | None = None,
        account: str = "",
    ) -> int: ...

    def breaker_event_rows(
        self,
        *,
        after_id: int = 0,
        event: str | None = None,
        accounts: Collection[str] | None = None,
    ) -> list[dict[str, Any]]: ...

    def breaker_events_version(self) -> tuple[int, int] | None:
        """Moves whenever breaker events may have been written; None: cannot tell cheaply."""
        ...


class WorkerJournal(JournalDatabase, BreakerLog, Protocol):
    """Everything the worker hands its journal to: the intent store and the breakers."""
