"""A worker whose journal and terminal disagree trades nothing and says so on /metrics; a sim
replay is a new account and starts flat and untripped, since the journal is scoped by account."""

from __future__ import annotations

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource

MAGIC = 5200


def _term(login: int = 5_000_001) -> SimTerminal:
    bars = make_replay_bars(("EURUSD",), n=40)
    term = SimTerminal(bars, start=10, account_mode="hedging", login=login)
    term.initialize()
    return term


def _worker(term: SimTerminal, url: str) -> Worker:
    broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
    return Worker(term, broker, Journal(url), FakeModelSource.with_roles("champion"),
                  WorkerMetrics(), ReplayClock(term), ("EURUSD",), "H1")  # fmt: skip


def _deals(term: SimTerminal) -> int:
    return len(term.history_deals_get(0, 2**40))


def test_a_disagreeing_terminal_is_refused_and_exported(journal_url: str) -> None:
    term = _term()
    Mt5Broker(term, magic=MAGIC).rebalance("EURUSD", 0.3, intent_id="by-hand")  # unjournaled
    worker = _worker(term, journal_url)
    worker.run(max_bars=3)
    assert _deals(term) == 1  # only the hand-made one
    assert worker.metrics.registry.get_sample_value("trading_refused") == 1.0
    assert worker.executor.refusing is not None and "EURUSD" in worker.executor.refusing


def test_a_new_sim_account_starts_flat_and_untripped_while_the_old_one_keeps_its_state(
    journal_url: str,
) -> None:
    url = journal_url
    first_term = _term()
    first = _worker(first_term, url)
    first.run(max_bars=5)
    assert _deals(first_term) > 0  # the first replay left positions in the journal's book
    first.breakers.halted.trip("halted in the MLflow UI")

    second_term = _term(login=5_000_002)  # a new replay: a new, flat simulated account
    second = _worker(second_term, url)
    assert not second.breakers.tripped  # the first account's trip is not this one's
    assert second.executor.start_up({MAGIC}).agreed  # nor is its book
    second.run(max_bars=5)
    assert _deals(second_term) > 0
    assert second.metrics.registry.get_sample_value("trading_refused") == 0.0
    assert second.executor.store.read_intents()["role"].ne("adopt").all()
    events = second.journal.read_breaker_events(account=second.account)
    assert set(events["event"]) == {"baseline"}  # no trip, no reset

    restarted = _worker(first_term, url)  # the first account again: a restart, not a reset
    assert restarted.breakers.halted.tripped
    assert restarted.executor.start_up({MAGIC}).agreed
    decisions = restarted.journal.read_decisions()
    assert set(decisions["account"]) == {first.account, second.account}
    assert len(restarted.journal.read_decisions(account=second.account)) == 5


def test_on_netting_the_canary_trades_in_shadow_and_the_journal_says_so(journal_url: str) -> None:
    bars = make_replay_bars(("EURUSD",), n=40)
    term = SimTerminal(bars, start=10, account_mode="netting")
    shadow = SimTerminal(bars, start=10, account_mode="hedging")
    term.initialize(), shadow.initialize()
    broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
    worker = Worker(term, broker, Journal(journal_url),
                    FakeModelSource.with_roles("champion", "canary"), WorkerMetrics(),
                    ReplayClock(term), ("EURUSD",), "H1", shadow_terminal=shadow)  # fmt: skip
    worker.run(max_bars=8)
    assert {d.magic for d in term.history_deals_get(0, 2**40)} == {MAGIC}
    shadow_deals = shadow.history_deals_get(0, 2**40)
    assert shadow_deals and {d.magic for d in shadow_deals} == {MAGIC + 1}
    assert shadow.now == term.now  # the shadow replays in lockstep
    decisions = worker.journal.read_decisions()
    assert set(decisions["role"]) == {"champion", "shadow"}
    assert worker.executor.refusing is None  # paper orders never enter the account's book
