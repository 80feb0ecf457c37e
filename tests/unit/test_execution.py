"""The executor journals every intent before sending and survives a kill at any point: every
order sent is explained by an intent committed before it, and none is sent twice after a
restart (start-up and open orders: ``test_execution_startup``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from serving.execution.broker import Mt5Broker
from serving.execution.executor import Target
from serving.execution.store import IntentJournal
from serving.journal import Journal, JournalWrites
from serving.metrics import WorkerMetrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.execution_process import (
    MAGIC,
    Killed,
    Process,
    crash_at,
    deals_of,
    journal_url,
    sim_term,
)
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource


class WatchedTerminal(SimTerminal):
    """Records, at each ``order_send``, what the journal already says about the order."""

    store: IntentJournal
    seen: list[tuple[str | None, str | None]]

    def order_send(self, request: Any) -> Any:
        key = next(r for r in self.store.orders() if r.comment == request["comment"])
        intent = self.store.intent(key.intent_id)
        self.seen.append((intent and intent.state, key.state))
        return super().order_send(request)


def test_the_intent_and_its_order_are_committed_before_order_send(tmp_path: Path) -> None:
    term = WatchedTerminal(make_replay_bars(("EURUSD",), n=30), start=10, account_mode="hedging")
    term.initialize()
    proc = Process(term, journal_url(tmp_path))
    term.store, term.seen = proc.store, []
    proc.trade("EURUSD", 0.3, "i1")
    proc.trade("EURUSD", -0.2, "i2")  # a reversal: close and open, two orders
    assert term.seen == [("intended", "sent")] * 3
    intents = proc.store.read_intents().set_index("intent_id")
    assert list(intents["state"]) == ["filled", "filled"]
    assert intents.loc["i2", "filled_volume"] == pytest.approx(-0.5)
    orders = proc.store.read_orders()
    assert list(orders["order_key"]) == ["i1.0", "i2.0", "i2.1"]
    assert (orders["matched_by"] == "answer").all() and (orders["ticket"] > 0).all()


def test_a_kill_between_intent_and_send_leaves_no_order_and_the_retry_sends_once(
    tmp_path: Path,
) -> None:
    term = sim_term()
    with pytest.raises(Killed):
        Process(term, journal_url(tmp_path), crash=crash_at("sent")).trade("EURUSD", 0.3, "i1")
    assert deals_of(term) == ()
    restarted = Process(term, journal_url(tmp_path))
    report = restarted.executor.start_up({MAGIC})
    assert report.agreed and restarted.executor.refusing is None
    assert restarted.store.orders(intent_id="i1")[0].state == "absent"
    (event,) = restarted.trade("EURUSD", 0.3, "i1")  # the same bar, decided again
    assert event.order_key == "i1.1" and event.comment == "ti1.1"
    (deal,) = deals_of(term)
    assert deal.comment == "ti1.1"
    assert restarted.store.intent("i1").state == "filled"


def test_a_kill_between_send_and_journal_is_recovered_and_never_resent(tmp_path: Path) -> None:
    term = sim_term()
    with pytest.raises(Killed):
        Process(term, journal_url(tmp_path), crash=crash_at("answered")).trade("EURUSD", 0.3, "i1")
    assert len(deals_of(term)) == 1
    restarted = Process(term, journal_url(tmp_path))
    assert restarted.store.orders()[0].state == "sent"
    assert restarted.executor.start_up({MAGIC}).agreed
    (row,) = restarted.store.orders()
    assert (row.state, row.matched_by, row.filled_volume) == ("filled", "comment", 0.3)
    events = restarted.journal.read_order_events()
    assert list(events["state"]) == ["filled_reconciled"]
    assert restarted.trade("EURUSD", 0.3, "i1") == []
    assert restarted.trade("EURUSD", 0.3, "i2") == []  # already held
    assert len(deals_of(term)) == 1


def test_a_kill_after_the_bars_commit_before_any_send_is_proven_absent_and_sent_once(
    tmp_path: Path,
) -> None:
    term = sim_term()
    with pytest.raises(Killed):
        Process(term, journal_url(tmp_path), crash=crash_at("intent")).trade("EURUSD", 0.3, "i1")
    assert deals_of(term) == ()
    restarted = Process(term, journal_url(tmp_path))
    assert restarted.store.intent("i1").state == "intended"
    assert restarted.store.orders(intent_id="i1")[0].state == "sent"  # maybe sent
    report = restarted.executor.start_up({MAGIC})
    assert report.agreed and report.abandoned == ()
    assert restarted.store.orders(intent_id="i1")[0].state == "absent"
    (event,) = restarted.trade("EURUSD", 0.3, "i1")
    assert event.order_key == "i1.1" and len(deals_of(term)) == 1


def test_an_intent_an_older_worker_left_without_orders_is_abandoned_at_restart(
    tmp_path: Path,
) -> None:
    term = sim_term()
    old = Process(term, journal_url(tmp_path))  # what a worker that journaled intents alone left
    old.store.write_intent(
        intent_id="i1", at=datetime(2024, 1, 1, tzinfo=UTC), state="intended", reason="",
        role="champion", symbol="EURUSD", magic=MAGIC, target_volume=0.3,
        bar_time=datetime.fromtimestamp(0, UTC),  # the bar Process.trade decides
    )  # fmt: skip
    restarted = Process(term, journal_url(tmp_path))
    report = restarted.executor.start_up({MAGIC})
    assert report.agreed and report.abandoned == ("i1",)
    assert restarted.store.intent("i1").state == "abandoned"
    assert len(restarted.trade("EURUSD", 0.3, "i1")) == 1 and len(deals_of(term)) == 1


def test_an_intent_left_intended_after_its_orders_had_an_outcome_is_settled_at_restart(
    tmp_path: Path,
) -> None:
    """Today a bar's answers and its intents' states commit together; a journal written by
    the code before that can hold a filled order under an intent still 'intended'."""
    term = sim_term()
    proc = Process(term, journal_url(tmp_path))
    proc.trade("EURUSD", 0.3, "i1")
    at = proc.store.intent("i1").updated_at
    proc.store.write_intent(intent_id="i1", at=at, state="intended", filled_volume=0.0)
    restarted = Process(term, journal_url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed
    assert restarted.trade("EURUSD", 0.3, "i1") == []  # the same bar again: reached already
    intent = restarted.store.intent("i1")
    assert (intent.state, intent.filled_volume) == ("filled", 0.3)
    assert len(deals_of(term)) == 1


@pytest.mark.parametrize("point", ["intent", "sent", "answered"])
def test_a_worker_killed_mid_order_restarts_and_trades_each_order_once(
    tmp_path: Path, point: str
) -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=40), account_mode="hedging")
    term.initialize()

    def worker() -> Worker:
        broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
        source = FakeModelSource.with_roles("champion")
        return Worker(term, broker, Journal(journal_url(tmp_path)), source, WorkerMetrics(),
                      ReplayClock(term), ("EURUSD",), "H1")  # fmt: skip

    first = worker()
    first.executor.crash = crash_at(point)
    with pytest.raises(Killed):
        first.run()
    killed_at = term.now
    second = worker()  # the same journal file and terminal: a restart
    second.run()
    assert second.executor.refusing is None and killed_at < term.now
    deals = deals_of(term)
    assert len({d.comment for d in deals}) == len(deals) > 3
    rows = IntentJournal(second.journal, second.account).orders()
    assert second.account == "5000001@Tate-SimReplay"
    held = {r.ticket for r in rows if r.state in ("filled", "partial")}
    assert held == {d.order for d in deals}
    assert {r.state for r in rows} <= {"filled", "absent"}


def test_another_accounts_orders_are_neither_reconciled_nor_in_its_book(tmp_path: Path) -> None:
    first, second = sim_term(login=1), sim_term(login=2)
    a = Process(first, journal_url(tmp_path), account="1@sim")
    a.trade("EURUSD", 0.3, "a1")
    with pytest.raises(Killed):  # leaves a "sent" order of account 1 in the journal
        Process(first, journal_url(tmp_path), crash_at("answered"), account="1@sim").trade(
            "EURUSD", 0.5, "a2"
        )
    b = Process(second, journal_url(tmp_path), account="2@sim")
    report = b.executor.start_up({MAGIC})
    assert report.agreed and report.unresolved == ()  # account 1's +0.5 is not account 2's
    assert b.store.orders() == [] and b.store.expected_book() == {}
    (event,) = b.trade("EURUSD", 0.2, "b1")
    assert event.volume == pytest.approx(0.2) and b.store.intent("a1") is None
    assert a.store.orders(intent_id="a2")[0].state == "sent"  # untouched by account 2
    again = Process(first, journal_url(tmp_path), account="1@sim")
    assert again.executor.start_up({MAGIC}).agreed
    assert again.store.orders(intent_id="a2")[0].state == "filled"
    assert {row.account for row in again.store.orders()} == {"1@sim"}
    events = again.journal.read_order_events(account="1@sim")
    assert events["state"].tolist() == ["filled_reconciled"]


def test_a_bars_targets_are_journaled_in_one_commit_and_answered_in_one_more(
    tmp_path: Path,
) -> None:
    term = sim_term("hedging")
    proc = Process(term, journal_url(tmp_path))
    proc.executor.start_up({MAGIC})
    commits: list[int] = []  # rows per transaction (``Journal.commit`` writes one or none)
    commit = proc.journal.commit

    def counted(writes: JournalWrites) -> None:
        if len(writes):
            commits.append(len(writes))
        commit(writes)

    proc.journal.commit = counted  # type: ignore[method-assign]
    canary = proc.broker.for_magic(MAGIC + 1)
    targets = [
        Target(proc.broker, "EURUSD", 0.3, "i1", "champion", 0),
        Target(canary, "EURUSD", -0.1, "i2", "canary", 0),
        Target(proc.broker, "USDJPY", 0.2, "i3", "champion", 0),
    ]
    events = proc.executor.trade(targets)
    assert len(commits) == 2 and [e.state for e in events] == ["filled"] * 3
    assert set(proc.store.read_intents()["state"]) == {"filled"}


def test_a_kill_after_a_bars_commit_sends_each_of_its_orders_once_after_restart(
    tmp_path: Path,
) -> None:
    term = sim_term("hedging")
    first = Process(term, journal_url(tmp_path), crash=crash_at("intent"))
    first.executor.start_up({MAGIC})
    targets = [
        Target(first.broker, "EURUSD", 0.3, "i1", "champion", 0),
        Target(first.broker, "USDJPY", 0.2, "i2", "champion", 0),
    ]
    with pytest.raises(Killed):
        first.executor.trade(targets)
    assert deals_of(term) == ()
    restarted = Process(term, journal_url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed
    assert {r.state for r in restarted.store.orders()} == {"absent"}
    restarted.executor.trade(targets)  # the same bar decided again (brokers are the same kind)
    restarted.executor.trade(targets)  # and once more: nothing twice
    assert sorted(d.comment for d in deals_of(term)) == ["ti1.1", "ti2.1"]


def test_orders_a_bar_withholds_or_that_follow_an_unknown_one_are_journaled_never_sent(
    tmp_path: Path,
) -> None:
    term = sim_term("hedging")
    proc = Process(term, journal_url(tmp_path))
    proc.trade("EURUSD", 0.3, "i1")
    term.inject("disconnect_placed")  # the close is placed, its answer lost, the terminal gone
    (event,) = proc.trade("EURUSD", -0.2, "i2")  # a reversal: close 0.3, then open 0.2
    assert event.state == "unknown"
    close, opening = proc.store.orders(intent_id="i2")
    assert (close.state, opening.state) == ("unknown", "absent")
    assert opening.matched_by == "unsent" and "i2.0 ended unknown" in opening.reason
    assert proc.store.intent("i2").state == "unknown"
    term.initialize()
    target = Target(proc.broker, "USDJPY", 0.2, "i3", "champion", 0)
    assert proc.executor.trade([target], withhold=lambda: "order_errors: 10027") == []
    (row,) = proc.store.orders(intent_id="i3")
    assert row.state == "absent" and row.reason == "not sent: order_errors: 10027"
    assert proc.store.intent("i3").state == "absent"
    assert [d.comment for d in deals_of(term)] == ["ti1.0", "ti2.0"]  # the close did deal


class LosingJournal(Journal):
    """A journal whose ``lose``-th next commit fails (a full disk, a lost connection)."""

    lose: int | None = None

    def commit(self, writes: JournalWrites) -> None:
        if self.lose is not None:
            self.lose -= 1
            if self.lose == 0:
                self.lose = None
                raise OSError("disk full")
        super().commit(writes)


def test_answers_lost_with_their_commit_are_reconciled_before_the_symbol_trades_again(
    tmp_path: Path,
) -> None:
    term = sim_term()
    proc = Process(term, journal_url(tmp_path), journal=LosingJournal(journal_url(tmp_path)))
    proc.executor.start_up({MAGIC})
    proc.journal.lose = 2  # the answers' commit
    with pytest.raises(OSError, match="disk full"):
        proc.trade("EURUSD", 0.3, "i1")
    assert len(deals_of(term)) == 1 and proc.store.orders()[0].state == "sent"
    assert proc.trade("EURUSD", 0.3, "i2") == []  # the same process: found, held, not doubled
    (row,) = proc.store.orders(intent_id="i1")
    assert (row.state, row.matched_by) == ("filled", "comment")
    assert len(deals_of(term)) == 1
