"""The executor journals every intent before sending, survives a kill at any point, and
refuses to trade while the journal and the terminal disagree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.costs import CostModel
from serving.execution.broker import Mt5Broker
from serving.execution.executor import OrderExecutor, Target
from serving.execution.store import IntentJournal
from serving.journal import Journal, JournalWrites
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource

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


def _term(mode: str = "netting", **kwargs: Any) -> SimTerminal:
    bars = make_replay_bars(("EURUSD", "USDJPY"), n=40)
    term = SimTerminal(bars, start=10, account_mode=mode, **kwargs)  # type: ignore[arg-type]
    term.initialize()
    return term


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journal.sqlite'}"


def _deals(term: SimTerminal) -> tuple[Any, ...]:
    return term.history_deals_get(0, 2**40)


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
    proc = Process(term, _url(tmp_path))
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
    term = _term()
    with pytest.raises(Killed):
        Process(term, _url(tmp_path), crash=crash_at("sent")).trade("EURUSD", 0.3, "i1")
    assert _deals(term) == ()
    restarted = Process(term, _url(tmp_path))
    report = restarted.executor.start_up({MAGIC})
    assert report.agreed and restarted.executor.refusing is None
    assert restarted.store.orders(intent_id="i1")[0].state == "absent"
    (event,) = restarted.trade("EURUSD", 0.3, "i1")  # the same bar, decided again
    assert event.order_key == "i1.1" and event.comment == "ti1.1"
    (deal,) = _deals(term)
    assert deal.comment == "ti1.1"
    assert restarted.store.intent("i1").state == "filled"


def test_a_kill_between_send_and_journal_is_recovered_and_never_resent(tmp_path: Path) -> None:
    term = _term()
    with pytest.raises(Killed):
        Process(term, _url(tmp_path), crash=crash_at("answered")).trade("EURUSD", 0.3, "i1")
    assert len(_deals(term)) == 1
    restarted = Process(term, _url(tmp_path))
    assert restarted.store.orders()[0].state == "sent"
    assert restarted.executor.start_up({MAGIC}).agreed
    (row,) = restarted.store.orders()
    assert (row.state, row.matched_by, row.filled_volume) == ("filled", "comment", 0.3)
    events = restarted.journal.read_order_events()
    assert list(events["state"]) == ["filled_reconciled"]
    assert restarted.trade("EURUSD", 0.3, "i1") == []
    assert restarted.trade("EURUSD", 0.3, "i2") == []  # already held
    assert len(_deals(term)) == 1


def test_a_kill_after_the_bars_commit_before_any_send_is_proven_absent_and_sent_once(
    tmp_path: Path,
) -> None:
    term = _term()
    with pytest.raises(Killed):
        Process(term, _url(tmp_path), crash=crash_at("intent")).trade("EURUSD", 0.3, "i1")
    assert _deals(term) == ()
    restarted = Process(term, _url(tmp_path))
    assert restarted.store.intent("i1").state == "intended"
    assert restarted.store.orders(intent_id="i1")[0].state == "sent"  # maybe sent
    report = restarted.executor.start_up({MAGIC})
    assert report.agreed and report.abandoned == ()
    assert restarted.store.orders(intent_id="i1")[0].state == "absent"
    (event,) = restarted.trade("EURUSD", 0.3, "i1")
    assert event.order_key == "i1.1" and len(_deals(term)) == 1


def test_an_intent_an_older_worker_left_without_orders_is_abandoned_at_restart(
    tmp_path: Path,
) -> None:
    term = _term()
    old = Process(term, _url(tmp_path))  # what a worker that journaled intents alone left
    old.store.write_intent(
        intent_id="i1", at=datetime(2024, 1, 1, tzinfo=UTC), state="intended", reason="",
        role="champion", symbol="EURUSD", magic=MAGIC, target_volume=0.3,
        bar_time=datetime.fromtimestamp(0, UTC),  # the bar Process.trade decides
    )  # fmt: skip
    restarted = Process(term, _url(tmp_path))
    report = restarted.executor.start_up({MAGIC})
    assert report.agreed and report.abandoned == ("i1",)
    assert restarted.store.intent("i1").state == "abandoned"
    assert len(restarted.trade("EURUSD", 0.3, "i1")) == 1 and len(_deals(term)) == 1


def test_an_intent_left_intended_after_its_orders_had_an_outcome_is_settled_at_restart(
    tmp_path: Path,
) -> None:
    """Today a bar's answers and its intents' states commit together; a journal written by
    the code before that can hold a filled order under an intent still 'intended'."""
    term = _term()
    proc = Process(term, _url(tmp_path))
    proc.trade("EURUSD", 0.3, "i1")
    at = proc.store.intent("i1").updated_at
    proc.store.write_intent(intent_id="i1", at=at, state="intended", filled_volume=0.0)
    restarted = Process(term, _url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed
    assert restarted.trade("EURUSD", 0.3, "i1") == []  # the same bar again: reached already
    intent = restarted.store.intent("i1")
    assert (intent.state, intent.filled_volume) == ("filled", 0.3)
    assert len(_deals(term)) == 1


def test_an_unresolved_order_blocks_its_symbol_until_the_terminal_answers(tmp_path: Path) -> None:
    term = _term()
    proc = Process(term, _url(tmp_path))
    term.inject("disconnect_placed")
    (event,) = proc.trade("EURUSD", 0.3, "i1")
    assert event.state == "unknown" and proc.store.orders()[0].state == "unknown"
    assert proc.trade("EURUSD", 0.5, "i2") == []  # still offline: blocked, nothing sent
    blocked = proc.store.intent("i2")
    assert blocked.state == "blocked" and "i1.0" in blocked.reason
    term.initialize()
    (more,) = proc.trade("EURUSD", 0.5, "i3")
    assert more.volume == pytest.approx(0.2)  # i1 was found filled: only the difference
    assert proc.store.orders(intent_id="i1")[0].state == "filled"
    assert [d.volume for d in _deals(term)] == [0.3, 0.2]


def test_start_up_refuses_on_a_disagreement_says_why_and_adoption_clears_it(
    tmp_path: Path,
) -> None:
    term = _term()
    Mt5Broker(term, magic=MAGIC).rebalance("EURUSD", 0.3, intent_id="by-hand")  # not journaled
    proc = Process(term, _url(tmp_path))
    report = proc.executor.start_up({MAGIC})
    assert not report.agreed
    assert proc.executor.refusing == (
        f"EURUSD magic {MAGIC}: the journal expects +0 lots, "
        "the terminal holds +0.3 (positions and pending orders)"
    )
    assert proc.trade("EURUSD", 0.5, "i1") == []
    assert proc.store.intent("i1").state == "refused" and len(_deals(term)) == 1
    assert proc.executor.adopt_terminal_state(by="ops@desk", note="manual test trade").agreed
    adopted = proc.store.read_intents().query("role == 'adopt'")
    assert len(adopted) == 1 and "ops@desk" in adopted["reason"].iloc[0]
    (event,) = proc.trade("EURUSD", 0.5, "i2")
    assert event.volume == pytest.approx(0.2)
    restarted = Process(term, _url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed  # adoption is remembered


def test_positions_of_other_magics_are_external_reported_and_left_alone(tmp_path: Path) -> None:
    term = _term("hedging")
    Mt5Broker(term, magic=1).rebalance("EURUSD", -0.4, intent_id="manual")
    proc = Process(term, _url(tmp_path))
    report = proc.executor.start_up({MAGIC})
    assert report.agreed and [(p.magic, p.volume) for p in report.external] == [(1, 0.4)]
    proc.trade("EURUSD", 0.2, "i1")
    proc.trade("EURUSD", 0.0, "i2")
    assert Mt5Broker(term, magic=1).net_position("EURUSD") == -0.4


def test_a_terminal_that_does_not_answer_at_start_up_is_refused_until_it_does(
    tmp_path: Path,
) -> None:
    term = _term()
    proc = Process(term, _url(tmp_path))
    term.disconnect()
    assert "did not answer" in (proc.executor.start_up({MAGIC}).reasons[0])
    assert proc.trade("EURUSD", 0.3, "i1") == []
    term.initialize()
    assert len(proc.trade("EURUSD", 0.3, "i2")) == 1 and proc.executor.refusing is None


def test_pending_orders_are_followed_until_their_deal_is_journaled(tmp_path: Path) -> None:
    term = _term(costs=CostModel(latency_bars=1))
    proc = Process(term, _url(tmp_path))
    (event,) = proc.trade("EURUSD", 0.3, "i1")
    assert event.state == "pending" and proc.store.intent("i1").state == "pending"
    assert proc.executor.start_up({MAGIC}).agreed  # pending counts on both sides
    term.advance()
    assert proc.trade("EURUSD", 0.3, "i2") == []
    (row,) = proc.store.orders(intent_id="i1")
    assert (row.state, row.filled_volume, row.deal > 0) == ("filled", 0.3, True)
    assert list(proc.journal.read_order_events()["state"]) == ["filled_reconciled"]
    assert proc.store.intent("i1").state == "filled"


def test_a_partial_fills_remainder_is_tracked_on_the_intent(tmp_path: Path) -> None:
    term = _term()
    proc = Process(term, _url(tmp_path))
    term.inject("partial")
    proc.trade("EURUSD", -0.5, "i1")
    intent = proc.store.intent("i1")
    assert (intent.state, intent.filled_volume, intent.remainder_volume) == (
        "partial", -0.25, -0.25,
    )  # fmt: skip
    assert proc.executor.start_up({MAGIC}).agreed


def test_a_placed_order_cancelled_at_fill_time_is_rejected_not_held(tmp_path: Path) -> None:
    term = _term("hedging", costs=CostModel(latency_bars=1))
    proc = Process(term, _url(tmp_path))
    proc.trade("EURUSD", 0.3, "i1")
    term.advance()
    (pos,) = term.positions_get()
    other = {
        "action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.3, "position": pos.ticket,
        "type": mt5.ORDER_TYPE_SELL, "price": term.symbol_info_tick("EURUSD").bid, "magic": 1,
        "type_filling": mt5.ORDER_FILLING_FOK,
    }  # fmt: skip
    term.order_send(other)  # someone else closes our position first
    (close,) = proc.trade("EURUSD", 0.0, "i2")
    assert close.state == "pending"
    term.advance()
    report = proc.executor.start_up({MAGIC})
    (row,) = proc.store.orders(intent_id="i2")
    assert row.state == "rejected" and row.filled_volume == 0.0
    assert not report.agreed and "expects +0.3 lots, the terminal holds +0" in report.reasons[0]


def test_a_restart_after_a_partial_fill_does_not_chase_the_rest_under_the_same_intent(
    tmp_path: Path,
) -> None:
    term = _term()
    term.inject("partial")
    with pytest.raises(Killed):
        Process(term, _url(tmp_path), crash=crash_at("answered")).trade("EURUSD", 0.5, "i1")
    restarted = Process(term, _url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed
    assert restarted.trade("EURUSD", 0.5, "i1") == []  # the same bar again: once per intent
    assert restarted.store.intent("i1").remainder_volume == pytest.approx(0.25)
    (rest,) = restarted.trade("EURUSD", 0.5, "i2")  # the next bar's intent closes the gap
    assert rest.volume == pytest.approx(0.25) and len(_deals(term)) == 2


@pytest.mark.parametrize("point", ["intent", "sent", "answered"])
def test_a_worker_killed_mid_order_restarts_and_trades_each_order_once(
    tmp_path: Path, point: str
) -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=40), account_mode="hedging")
    term.initialize()

    def worker() -> Worker:
        broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
        source = FakeModelSource.with_roles("champion")
        return Worker(term, broker, Journal(_url(tmp_path)), source, WorkerMetrics(),
                      ReplayClock(term), ("EURUSD",), "H1")  # fmt: skip

    first = worker()
    first.executor.crash = crash_at(point)
    with pytest.raises(Killed):
        first.run()
    killed_at = term.now
    second = worker()  # the same journal file and terminal: a restart
    second.run()
    assert second.executor.refusing is None and killed_at < term.now
    deals = _deals(term)
    assert len({d.comment for d in deals}) == len(deals) > 3
    rows = IntentJournal(second.journal, second.account).orders()
    assert second.account == "5000001@Tate-SimReplay"
    held = {r.ticket for r in rows if r.state in ("filled", "partial")}
    assert held == {d.order for d in deals}
    assert {r.state for r in rows} <= {"filled", "absent"}


def test_another_accounts_orders_are_neither_reconciled_nor_in_its_book(tmp_path: Path) -> None:
    first, second = _term(login=1), _term(login=2)
    a = Process(first, _url(tmp_path), account="1@sim")
    a.trade("EURUSD", 0.3, "a1")
    with pytest.raises(Killed):  # leaves a "sent" order of account 1 in the journal
        Process(first, _url(tmp_path), crash_at("answered"), account="1@sim").trade(
            "EURUSD", 0.5, "a2"
        )
    b = Process(second, _url(tmp_path), account="2@sim")
    report = b.executor.start_up({MAGIC})
    assert report.agreed and report.unresolved == ()  # account 1's +0.5 is not account 2's
    assert b.store.orders() == [] and b.store.expected_book() == {}
    (event,) = b.trade("EURUSD", 0.2, "b1")
    assert event.volume == pytest.approx(0.2) and b.store.intent("a1") is None
    assert a.store.orders(intent_id="a2")[0].state == "sent"  # untouched by account 2
    again = Process(first, _url(tmp_path), account="1@sim")
    assert again.executor.start_up({MAGIC}).agreed
    assert again.store.orders(intent_id="a2")[0].state == "filled"
    assert {row.account for row in again.store.orders()} == {"1@sim"}
    events = again.journal.read_order_events(account="1@sim")
    assert events["state"].tolist() == ["filled_reconciled"]


def test_a_bars_targets_are_journaled_in_one_commit_and_answered_in_one_more(
    tmp_path: Path,
) -> None:
    term = _term("hedging")
    proc = Process(term, _url(tmp_path))
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
    term = _term("hedging")
    first = Process(term, _url(tmp_path), crash=crash_at("intent"))
    first.executor.start_up({MAGIC})
    targets = [
        Target(first.broker, "EURUSD", 0.3, "i1", "champion", 0),
        Target(first.broker, "USDJPY", 0.2, "i2", "champion", 0),
    ]
    with pytest.raises(Killed):
        first.executor.trade(targets)
    assert _deals(term) == ()
    restarted = Process(term, _url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed
    assert {r.state for r in restarted.store.orders()} == {"absent"}
    restarted.executor.trade(targets)  # the same bar decided again (brokers are the same kind)
    restarted.executor.trade(targets)  # and once more: nothing twice
    assert sorted(d.comment for d in _deals(term)) == ["ti1.1", "ti2.1"]


def test_orders_a_bar_withholds_or_that_follow_an_unknown_one_are_journaled_never_sent(
    tmp_path: Path,
) -> None:
    term = _term("hedging")
    proc = Process(term, _url(tmp_path))
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
    assert [d.comment for d in _deals(term)] == ["ti1.0", "ti2.0"]  # the close did deal


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
    term = _term()
    proc = Process(term, _url(tmp_path), journal=LosingJournal(_url(tmp_path)))
    proc.executor.start_up({MAGIC})
    proc.journal.lose = 2  # the answers' commit
    with pytest.raises(OSError, match="disk full"):
        proc.trade("EURUSD", 0.3, "i1")
    assert len(_deals(term)) == 1 and proc.store.orders()[0].state == "sent"
    assert proc.trade("EURUSD", 0.3, "i2") == []  # the same process: found, held, not doubled
    (row,) = proc.store.orders(intent_id="i1")
    assert (row.state, row.matched_by) == ("filled", "comment")
    assert len(_deals(term)) == 1
