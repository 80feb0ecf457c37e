"""The worker process the kill -9 test kills: the production worker on a ``RemoteTerminal``.

``run_worker`` is a process entry point. It builds the real ``serving.worker.Worker`` with the
real SQLite ``Journal`` and ``Mt5Broker`` (``build_worker``, the one place to adapt when their
construction changes) and replays until the served terminal's replay ends. A ``Kill`` makes the
process SIGKILL itself at an injected point, on the n-th time it gets there:

- ``before_send``: in ``order_send``, before the request leaves (intent and order row
  committed, nothing sent);
- ``after_answer``: in ``order_send``, once the answer came back (sent, outcome not journaled);
- ``intent``: at the executor's ``crash`` hook point ``"intent"`` (intent committed, no order
  row yet).

Just before dying it appends a marker (the point, and which order or intent) to an fsynced
file, so the test can check the kill happened where it was meant to.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from serving.execution.broker import Mt5Broker
from serving.execution.intents import IntentState
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.risk.board import RiskLimits
from serving.worker import ReplayClock, Worker
from tests.fakes import FakeModelSource
from tests.recording_terminal import RemoteTerminal

MAGIC = 7300  # the champion's; the canary trades as MAGIC + 1
SYMBOLS = ("EURUSD", "USDJPY", "GBPUSD")
KillPoint = Literal["before_send", "after_answer", "intent"]


@dataclass(frozen=True)
class Kill:
    """Kill the process at ``point`` the ``nth`` time this process reaches it."""

    point: KillPoint
    nth: int


def build_worker(terminal: Any, journal_url: str) -> Worker:
    """The worker as ``tate serve`` assembles it, with fake models that trade often: champion
    and canary (``FakeModelSource``: momentum, a target that changes nearly every bar)."""
    clock = ReplayClock(terminal)
    broker = Mt5Broker(terminal, magic=MAGIC, now=clock.now, sleep=clock.sleep)
    # breakers that cannot trip on a loaded machine or on random bars: every bar trades
    limits = RiskLimits(latency_slo_seconds=3600.0, drift_sizing=False, psi_threshold=1e9)
    return Worker(
        terminal,
        broker,
        Journal(journal_url),
        FakeModelSource.with_roles("champion", "canary"),
        WorkerMetrics(),
        clock,
        SYMBOLS,
        "H1",
        max_volume=1.0,
        canary_fraction=0.5,
        limits=limits,
    )


def die(markers: Path, **facts: Any) -> NoReturn:
    """Leave a durable note of where, then SIGKILL this process."""
    with markers.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"pid": os.getpid(), **facts}) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL cannot be caught")


class KillingTerminal(RemoteTerminal):
    """A ``RemoteTerminal`` whose ``order_send`` kills the process before or after the send."""

    def __init__(self, address: tuple[str, int], kill: Kill, markers: Path) -> None:
        super().__init__(address)
        self.kill, self.markers, self.sends = kill, markers, 0

    def order_send(self, request: dict[str, Any]) -> Any:
        self.sends += 1
        due = self.sends == self.kill.nth
        if due and self.kill.point == "before_send":
            die(self.markers, point="before_send", comment=request["comment"])
        result = self.call("order_send", request)
        if due and self.kill.point == "after_answer":
            deal = 0 if result is None else int(result.deal)
            die(self.markers, point="after_answer", comment=request["comment"], deal=deal)
        return result


class IntentKiller:
    """The executor's ``crash`` hook: dies at ``"intent"`` the n-th time, naming the intent."""

    def __init__(self, worker: Worker, nth: int, markers: Path) -> None:
        self.worker, self.nth, self.markers, self.seen = worker, nth, markers, 0

    def __call__(self, point: str) -> None:
        if point != "intent":
            return
        self.seen += 1
        if self.seen == self.nth:  # the bar's intents and order rows committed, none sent
            store = self.worker.executor.store
            intended = [
                row.intent_id
                for row in store.intents_in([IntentState.INTENDED])
                # this bar's orders wait in "sent"; earlier lives' were resolved at start-up
                if any(o.state == "sent" for o in store.orders(intent_id=row.intent_id))
            ]
            die(self.markers, point="intent", intents=intended)


def run_worker(
    address: tuple[str, int], journal_url: str, markers: Path, log: Path, kill: Kill | None
) -> None:
    """Process entry point: replay to the end (exit 0), or die at ``kill``; exit 1 when the
    worker ends refusing to trade or raises."""
    logging.basicConfig(
        filename=log,
        level=logging.INFO,
        format=f"%(asctime)s {os.getpid()} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    try:
        if kill is not None and kill.point != "intent":
            terminal: RemoteTerminal = KillingTerminal(address, kill, markers)
        else:
            terminal = RemoteTerminal(address)
        worker = build_worker(terminal, journal_url)
        if kill is not None and kill.point == "intent":
            worker.executor.crash = IntentKiller(worker, kill.nth, markers)
        bars = worker.run()
        logging.info("replay over after %d bars; refusing: %s", bars, worker.executor.refusing)
    except Exception:
        logging.error("worker failed:\n%s", traceback.format_exc())
        raise SystemExit(1) from None
    if worker.executor.refusing:
        raise SystemExit(1)
