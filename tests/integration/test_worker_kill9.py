"""A worker killed with SIGKILL — at injected points and at random points of a replay — sends no
order its journal did not commit first, and never sends an intent again after a restart.

The terminal outlives the worker, as a real one does: a SimTerminal in its own process
(``tests.recording_terminal``) that fsyncs every ``order_send`` to a log before executing it, and
checks, from outside the worker, that the order row was committed. Worker processes
(``tests.kill9_worker``: the production ``Worker``, ``Journal`` and ``Mt5Broker``) replay on it one
after the other over one journal file; each dies with SIGKILL — by its own hand at an injected
point, or the test's at a random moment — and the next one is a restart. The last one replays to
the end. Then the log, the journal and the terminal must tell one story.

Processes fork from a forkserver that has imported the worker once: a fresh interpreter pays
seconds of imports (mlflow, lightgbm) per restart, which would make a dozen restarts slow without
making them any more of a restart (a forked worker shares no state with the one before it). If
another test of the session started the forkserver first, the preload is ignored and each
process imports on its own: slower, still correct.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from serving.execution.intents import OPEN_ORDER_STATES
from serving.execution.reconciler import compare_books, terminal_book
from serving.execution.records import OrderRecord
from serving.execution.store import IntentJournal
from serving.identities import account_key
from serving.journal import Journal
from serving.mt5 import constants as mt5
from tests.kill9_worker import MAGIC, SYMBOLS, Kill, run_worker
from tests.recording_terminal import RemoteTerminal, TerminalConfig, read_send_log, serve_terminal

pytestmark = pytest.mark.integration

INJECTED = (
    Kill("before_send", 3),
    Kill("before_send", 1),  # the restart's first send is the re-execution: killed again
    Kill("after_answer", 2),
    Kill("after_answer", 1),  # the restart's first send follows a reconciled one
    Kill("intent", 2),
    Kill("intent", 1),
)
RANDOM_KILLS = 10
SEED = 913
BARS, START = 90, 20  # every kill lands before the end: each takes at most ~6 bars
PROCESS_SECONDS = 120.0  # bound on any one worker process (its replay share, a loaded machine)
MAGICS = (MAGIC, MAGIC + 1)
H1 = mt5.TIMEFRAME_H1


@contextmanager
def served_terminal(
    ctx: ForkServerContext, config: TerminalConfig
) -> Iterator[tuple[tuple[str, int], RemoteTerminal]]:
    """The recording terminal in its own process: its address, and the test's connection."""
    receive, send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve_terminal, args=(config, send), daemon=True)
    server.start()
    send.close()
    try:
        if not receive.poll(60):
            raise RuntimeError(f"the terminal server did not start (exit code {server.exitcode})")
        address = receive.recv()
        remote = RemoteTerminal(address)
        yield address, remote
        remote.close()
    finally:
        server.terminate()
        server.join(10)
        if server.is_alive():
            server.kill()
            server.join(10)


class Workers:
    """Starts worker processes one after the other on the same journal and terminal."""

    def __init__(
        self,
        ctx: ForkServerContext,
        address: tuple[str, int],
        remote: RemoteTerminal,
        tmp_path: Path,
    ) -> None:
        self.ctx, self.address, self.remote, self.tmp_path = ctx, address, remote, tmp_path
        self.url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
        self.markers = tmp_path / "kills.jsonl"
        self.logs: list[Path] = []
        self.processes: list[BaseProcess] = []
        self.advanced_before = 0

    def start(self, kill: Kill | None) -> BaseProcess:
        log = self.tmp_path / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        self.advanced_before = int(self.remote.call("advances"))
        process = self.ctx.Process(
            target=run_worker, args=(self.address, self.url, self.markers, log, kill)
        )
        process.start()
        self.processes.append(process)
        return process

    def finish(self, process: BaseProcess, timeout: float = PROCESS_SECONDS) -> int:
        """The process's exit code; a process still running after ``timeout`` fails the test."""
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(10)
            pytest.fail(f"worker {process.pid} still ran after {timeout} s:\n{self.tail()}")
        assert process.exitcode is not None
        return process.exitcode

    def kill_at_random(self, process: BaseProcess, rng: random.Random) -> None:
        """SIGKILL ``process`` at a random moment: in one round of four within its first half
        second (start-up, reconciliation), else anywhere in its next three bars — a uniform
        delay over three bar durations measured on the fly, so a slow machine stretches the
        delay, not the spread of the points it can hit."""
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.0, 0.5))
        elif self.wait_for_bars(process, 1):
            started = time.monotonic()
            if self.wait_for_bars(process, 2):
                time.sleep(rng.uniform(0.0, 3.0) * (time.monotonic() - started))
        process.kill()

    def wait_for_bars(self, process: BaseProcess, count: int) -> bool:
        """Wait (bounded) until ``process`` has advanced the replay ``count`` bars; False if it
        exited first."""
        target = self.advanced_before + count
        deadline = time.monotonic() + PROCESS_SECONDS
        while process.is_alive() and time.monotonic() < deadline:
            if self.remote.call("wait_for_advances", target, 0.5) >= target:
                return True
        return False

    def kill_all(self) -> None:
        """Leave no worker behind when the test stops early."""
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join(10)

    def tail(self) -> str:
        return self.logs[-1].read_text(encoding="utf-8")[-3000:] if self.logs else ""


def kill_schedule() -> list[Kill | None]:
    """Each injected kill followed by a random one (None), then the remaining random ones."""
    plan: list[Kill | None] = []
    for kill in INJECTED:
        plan += [kill, None]
    return plan + [None] * (RANDOM_KILLS - len(INJECTED))


@dataclass(frozen=True)
class Evidence:
    """What the log, the journal and the terminal say once the last worker is done."""

    sends: list[dict[str, Any]]  # the send log, each send with its answer
    orders: dict[str, OrderRecord]  # the journal's order rows by comment
    intents: pd.DataFrame  # the journal's intents by id
    decisions: pd.DataFrame
    expected_book: dict[tuple[str, int], float]  # what the journal says is held
    positions: tuple[Any, ...]
    pending: tuple[Any, ...]
    deals: tuple[Any, ...]
    closed_bars: dict[str, set[int]]  # every closed bar's time, per symbol

    @classmethod
    def gather(cls, remote: RemoteTerminal, send_log: Path, journal_url: str) -> Evidence:
        journal = Journal(journal_url)
        store = IntentJournal(journal, account_key(remote))  # the journal is per account
        try:
            return cls(
                sends=read_send_log(send_log),
                orders={row.comment: row for row in store.orders()},
                intents=store.read_intents().set_index("intent_id"),
                decisions=journal.read_decisions(),
                expected_book=store.expected_book(),
                positions=remote.positions_get(),
                pending=remote.orders_get(),
                deals=remote.history_deals_get(0, 2**40),
                closed_bars={
                    s: {int(t) for t in remote.copy_rates_from_pos(s, H1, 1, BARS)["time"]}
                    for s in SYMBOLS
                },
            )
        finally:
            journal.close()


def assert_every_send_was_committed_first(evidence: Evidence) -> None:
    """At the instant each order left, its intent and its order row (state ``sent``) were
    committed: another process could read them."""
    unexplained = [
        s
        for s in evidence.sends
        if s["journal"] is None
        or s["journal"]["order_state"] != "sent"
        or s["journal"]["intent_state"] is None
        or (s["journal"]["magic"], s["journal"]["symbol"]) != (s["magic"], s["symbol"])
    ]
    assert unexplained == []


def assert_no_order_or_intent_sent_twice(evidence: Evidence) -> None:
    """No order key reached the terminal twice, and no intent was sent by two processes: a
    restarted worker never executes again an intent a killed one had sent (every send here
    filled, so each one that left reached the book)."""
    assert all(s["answer"]["retcode"] == mt5.TRADE_RETCODE_DONE for s in evidence.sends)
    twice = [c for c, n in Counter(s["comment"] for s in evidence.sends).items() if n > 1]
    assert twice == []
    senders: dict[str, set[int]] = {}
    for s in evidence.sends:
        senders.setdefault(s["journal"]["intent_id"], set()).add(s["pid"])
    assert {i: pids for i, pids in senders.items() if len(pids) > 1} == {}


def assert_journal_and_terminal_agree(evidence: Evidence) -> None:
    """The journal's last word on every sent order is the terminal's answer, nothing is left
    open, every deal on the account is a logged send, and what the terminal holds per symbol
    and magic is what the journal's orders, and its intents, say was filled."""
    for s in evidence.sends:
        row, answer = evidence.orders[s["comment"]], s["answer"]
        assert (row.state, row.ticket, row.deal, row.filled_volume) == (
            "filled", answer["order"], answer["deal"], answer["volume"]
        ), s  # fmt: skip
        assert (row.volume, row.position) == (s["volume"], s["position"]), s
    still_open = [key for key, row in evidence.orders.items() if row.state in OPEN_ORDER_STATES]
    assert still_open == []
    assert sorted(d.order for d in evidence.deals) == sorted(
        s["answer"]["order"] for s in evidence.sends
    )
    held, external = terminal_book(evidence.positions, evidence.pending, MAGICS)
    assert external == ()
    assert compare_books(evidence.expected_book, held) == []
    intents = evidence.intents
    assert "intended" not in set(intents["state"])  # none left half-done by a kill
    by_intents = intents.groupby(["symbol", "magic"])["filled_volume"].sum().round(8)
    assert compare_books({(s, int(m)): v for (s, m), v in by_intents.items()}, held) == []


def assert_every_bar_decided(evidence: Evidence) -> None:
    """Each role decided every closed bar from its first to the replay's last: a restart
    re-decides the bar it died on and skips none."""
    frame = evidence.decisions
    assert set(frame["role"]) == {"champion", "canary"}
    assert set(frame["symbol"]) == set(SYMBOLS)
    for (symbol, role), rows in frame.groupby(["symbol", "role"]):
        decided = {int(t.timestamp()) for t in rows["bar_time"]}
        expected = {t for t in evidence.closed_bars[symbol] if t >= min(decided)}
        assert decided == expected, (symbol, role, sorted(expected - decided))


def assert_injected_kills_hit(
    evidence: Evidence, killed: list[tuple[Kill, int]], marks: Path
) -> None:
    """Each injected kill happened at its point, and the restart made good on it."""
    markers = {m["pid"]: m for m in map(json.loads, marks.read_text("utf-8").splitlines())}
    assert [markers[pid]["point"] for _, pid in killed] == [kill.point for kill, _ in killed]
    sent = {s["comment"]: s for s in evidence.sends}
    for kill, pid in killed:
        mark = markers[pid]
        if kill.point == "before_send":  # committed, never sent: proven absent at restart
            assert mark["comment"] not in sent
            assert evidence.orders[mark["comment"]].state == "absent"
        elif kill.point == "after_answer":  # sent, answer lost: found on the terminal
            assert (sent[mark["comment"]]["pid"], sent[mark["comment"]]["answer"]["deal"]) == (
                pid, mark["deal"]
            )  # fmt: skip
            assert evidence.orders[mark["comment"]].matched_by != "answer"
        else:  # intent committed, no order row: abandoned, then executed by a later process
            assert mark["intents"]  # one; several if a bar's intents are committed together
            for intent_id in mark["intents"]:
                senders = {
                    s["pid"] for s in evidence.sends if s["journal"]["intent_id"] == intent_id
                }
                assert senders and pid not in senders
                assert evidence.intents.loc[intent_id, "state"] == "filled"


def run_the_kills(workers: Workers, rng: random.Random) -> list[tuple[Kill, int]]:
    """Start a worker per scheduled kill and see it die of SIGKILL; returns the injected
    kills with the pid of the process each killed."""
    injected = []
    for kill in kill_schedule():
        process = workers.start(kill)
        if kill is None:
            workers.kill_at_random(process, rng)
        code = workers.finish(process)
        assert code == -signal.SIGKILL, (
            f"worker meant to die at {kill or 'a random point'} exited {code}:\n{workers.tail()}"
        )
        if kill is not None:
            injected.append((kill, int(process.pid or 0)))
    return injected


@pytest.mark.timeout(600)
def test_a_worker_killed_anywhere_sends_only_committed_intents_each_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.kill9_worker"])
    config = TerminalConfig(
        SYMBOLS, BARS, SEED, START, tmp_path / "sends.jsonl", tmp_path / "journal.sqlite"
    )
    rng = random.Random(SEED)
    with served_terminal(ctx, config) as (address, remote):
        workers = Workers(ctx, address, remote, tmp_path)
        try:
            injected = run_the_kills(workers, rng)
            last = workers.start(None)
            assert workers.finish(last) == 0, f"the last worker failed:\n{workers.tail()}"
        finally:
            workers.kill_all()
        assert not remote.call("advance"), "the last worker stopped before the replay's end"
        evidence = Evidence.gather(remote, config.send_log, workers.url)

    assert len(evidence.sends) >= 100, "the replay must trade a lot to prove anything"
    assert_every_send_was_committed_first(evidence)
    assert_no_order_or_intent_sent_twice(evidence)
    assert_journal_and_terminal_agree(evidence)
    assert_every_bar_decided(evidence)
    assert_injected_kills_hit(evidence, injected, workers.markers)
    recovered = sum(r.matched_by not in ("answer", "") for r in evidence.orders.values())
    absent = sum(r.state == "absent" for r in evidence.orders.values())
    print(
        f"{len(evidence.sends)} orders from {len({s['pid'] for s in evidence.sends})} of "
        f"{len(workers.logs)} processes; {recovered} found on the terminal by a restart, "
        f"{absent} proven unsent"
    )
