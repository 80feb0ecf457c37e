"""A worker killed with SIGKILL — at the points between journal and terminal, and at random
moments of a replay — never sends an order the journal does not explain, and after restarts
never sends an intent twice.

Each life of the worker is a forked process over the same journal file. Its terminal is a
SimTerminal that writes every ``order_send`` (and every bar it advances to) to a log, fsynced,
before acting: the log is the server's memory, outside the process that dies. A new life
rebuilds the server from the log — the same requests at the same bars give the same tickets
and deals — and carries on from the bar the last life died in, deciding it again. At each
send the terminal also reads, through its own connection, what the journal has committed
about the order: the journal's word as another process would find it after a crash.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from serving.broker import Mt5Broker
from serving.fakes import FakeModelSource, make_bars
from serving.intent_journal import IntentJournal
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.reconcile import compare_books, terminal_book
from serving.sim_terminal import SimTerminal
from serving.worker import ReplayClock, Worker

MAGIC = 7300
SYMBOLS = ("EURUSD", "USDJPY")
BARS = make_bars(SYMBOLS, n=60, seed=11)
WAIT = 120.0  # seconds a life may take before the test gives up on it


class LoggedServer(SimTerminal):
    """A SimTerminal whose server side survives the process: sends and bars are logged."""

    def __init__(self, log: Path, journal: Path) -> None:
        super().__init__(BARS, account_mode="hedging", start=10)
        self.log, self.journal_path, self.replaying = log, journal, False

    def _append(self, line: dict[str, Any]) -> None:
        if self.replaying:
            return
        with self.log.open("a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _committed(self, key: str) -> list[str | None]:
        """The order row's and its intent's states as committed in the journal now."""
        with sqlite3.connect(self.journal_path) as conn:
            order = conn.execute("SELECT state FROM intent_orders WHERE order_key = ?", (key,))
            intent = conn.execute(
                "SELECT state FROM intents WHERE intent_id = ?", (key.split(".")[0],)
            )
            return [(order.fetchone() or [None])[0], (intent.fetchone() or [None])[0]]

    def order_send(self, request: Any) -> Any:
        key = str(request["comment"])[1:]
        self._append(
            {
                "send": dict(request),
                "now": self.now,
                "pid": os.getpid(),
                "journal": self._committed(key),
            }
        )
        return super().order_send(request)

    def advance(self) -> bool:
        more = super().advance()
        self._append({"advance": self.now})
        return more

    @classmethod
    def rebuild(cls, log: Path, journal: Path) -> LoggedServer:
        """The server as the log left it, at the bar the last life reached."""
        server = cls(log, journal)
        server.initialize()
        server.replaying = True
        for line in read_log(log):
            now = line.get("advance", line.get("now"))
            while server.now < now:
                super(LoggedServer, server).advance()
            if "send" in line:
                SimTerminal.order_send(server, line["send"])
        server.replaying = False
        return server


def read_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def life(log: Path, journal: Path, point: str | None, nth: int) -> None:
    """One life of the worker; dies by SIGKILL the ``nth`` time it reaches ``point``."""
    server = LoggedServer.rebuild(log, journal)
    reached = Counter[str]()

    def crash(at: str) -> None:
        reached[at] += 1
        if at == point and reached[at] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    worker = Worker(
        server, Mt5Broker(server, magic=MAGIC, sleep=lambda s: None),
        Journal(f"sqlite:///{journal}"), FakeModelSource.with_roles("champion", "canary"),
        WorkerMetrics(), ReplayClock(server), SYMBOLS, "H1",
    )  # fmt: skip
    worker.executor.crash = crash
    worker.run()
    os._exit(0 if worker.executor.refusing is None else 3)


def live(
    log: Path, journal: Path, point: str | None = None, nth: int = 1, lines: int | None = None
) -> int | None:
    """Run one life to its end or its death; returns its exit code (-9: killed).

    With ``lines``, this process kills it from outside once the log has grown by that many
    lines: wherever the life is then (deciding, committing, sending), it dies.
    """
    process = multiprocessing.get_context("fork").Process(
        target=life, args=(log, journal, point, nth)
    )
    start, deadline = len(read_log(log)), time.monotonic() + WAIT
    process.start()
    while lines is not None and process.is_alive() and time.monotonic() < deadline:
        if len(read_log(log)) >= start + lines:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    process.join(max(0.0, deadline - time.monotonic()))
    assert not process.is_alive(), "a life of the worker hung"
    return process.exitcode


def test_sigkill_anywhere_leaves_every_send_explained_and_no_intent_sent_twice(
    tmp_path: Path,
) -> None:
    log, journal = tmp_path / "server.log", tmp_path / "journal.sqlite"
    rng = random.Random(7)
    for point in ("intent", "sent", "answered", "sent", "answered", "intent"):
        assert live(log, journal, point, nth=rng.randint(1, 6)) == -signal.SIGKILL
        assert live(log, journal, lines=rng.randint(1, 12)) == -signal.SIGKILL
    assert live(log, journal) == 0  # the last life runs the replay to its end

    sends = [line for line in read_log(log) if "send" in line]
    assert len(sends) > 20
    # every order was journaled "sent", under an intent, before it reached the terminal
    assert all(line["journal"][0] == "sent" and line["journal"][1] for line in sends)
    # no order key was sent twice, and no intent by two lives
    keys = Counter(line["send"]["comment"] for line in sends)
    assert max(keys.values()) == 1
    lives: dict[str, set[int]] = defaultdict(set)
    for line in sends:
        lives[line["send"]["comment"][1:].split(".")[0]].add(line["pid"])
    assert all(len(pids) == 1 for pids in lives.values())
    # and the journal agrees with the server: every deal one held order, nothing left open
    server = LoggedServer.rebuild(log, journal)
    deals = server.history_deals_get(0, 2**40)
    store = IntentJournal(Journal(f"sqlite:///{journal}"), "5000001@Tate-SimReplay")
    rows = store.orders()
    assert {row["state"] for row in rows} <= {"filled", "absent"}
    held = {row["ticket"] for row in rows if row["state"] == "filled"}
    assert sorted(d.order for d in deals) == sorted(held)
    book, _ = terminal_book(server.positions_get(), server.orders_get(), {MAGIC, MAGIC + 1})
    assert compare_books(store.expected_book(), book) == []
