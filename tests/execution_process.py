"""The execution side of one worker process over a terminal that outlives it, and the crash
hooks that kill it at a named point: what the executor tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.execution.broker import Mt5Broker
from serving.execution.executor import OrderExecutor
from serving.execution.store import IntentJournal
from serving.journal import Journal
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock
from tests.factories import make_replay_bars

MAGIC = 5100


class Killed(BaseException):
    """The process dies here (a BaseException: the worker's ``except Exception`` won't stop it)."""


def crash_at(point: str) -> Callable[[str], None]:
    """A crash hook that kills the 'process' the first time it reaches ``point``."""
    fired: list[str] = []

    def hook(reached: str) -> None:
        if reached == point and not fired:
            fired.append(reached)
            raise Killed(point)

    return hook


class Process:
    """One run of the worker's execution side: journal, executor and broker over a terminal
    that outlives it (a restart is a new ``Process`` on the same file and terminal)."""

    def __init__(
        self,
        term: SimTerminal,
        url: str,
        crash: Callable[[str], None] | None = None,
        account: str = "",
        journal: Journal | None = None,
    ):
        self.journal = journal or Journal(url)
        clock = ReplayClock(term)
        self.executor = OrderExecutor(
            self.journal, term, account=account, now=clock.now, crash=crash
        )
        self.broker = Mt5Broker(term, magic=MAGIC, now=clock.now, sleep=lambda s: None)
        self.store = IntentJournal(self.journal, account)

    def trade(self, symbol: str, target: float, intent: str) -> list[Any]:
        return self.executor.rebalance(
            self.broker, symbol, target, intent_id=intent, role="champion", bar_time=0
        )


def sim_term(mode: str = "netting", **kwargs: Any) -> SimTerminal:
    bars = make_replay_bars(("EURUSD", "USDJPY"), n=40)
    term = SimTerminal(bars, start=10, account_mode=mode, **kwargs)  # type: ignore[arg-type]
    term.initialize()
    return term


def journal_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journal.sqlite'}"


def deals_of(term: SimTerminal) -> tuple[Any, ...]:
    return term.history_deals_get(0, 2**40)
