"""A worker whose journal and terminal disagree trades nothing and says so on /metrics; a sim
replay is a new account and starts flat and untripped, journaled as such."""

from __future__ import annotations

from pathlib import Path

from flows.serve import SIM_ACCOUNT, start_fresh_sim_account
from serving.broker import Mt5Broker
from serving.fakes import FakeModelSource, make_bars
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.sim_terminal import SimTerminal
from serving.worker import ReplayClock, Worker

MAGIC = 5200


def _term(login: int = 5_000_001) -> SimTerminal:
    bars = make_bars(("EURUSD",), n=40)
    term = SimTerminal(bars, start=10, account_mode="hedging", login=login)
    term.initialize()
    return term


def _worker(term: SimTerminal, url: str) -> Worker:
    broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
    return Worker(term, broker, Journal(url), FakeModelSource.with_roles("champion"),
                  WorkerMetrics(), ReplayClock(term), ("EURUSD",), "H1")  # fmt: skip


def _deals(term: SimTerminal) -> int:
    return len(term.history_deals_get(0, 2**40))


def test_a_disagreeing_terminal_is_refused_and_exported(tmp_path: Path) -> None:
    term = _term()
    Mt5Broker(term, magic=MAGIC).rebalance("EURUSD", 0.3, intent_id="by-hand")  # unjournaled
    worker = _worker(term, f"sqlite:///{tmp_path / 'journal.sqlite'}")
    worker.run(max_bars=3)
    assert _deals(term) == 1  # only the hand-made one
    assert worker.metrics.registry.get_sample_value("trading_refused") == 1.0
    assert worker.executor.refusing is not None and "EURUSD" in worker.executor.refusing


def test_a_new_sim_replay_adopts_the_fresh_account_and_resets_old_trips(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    first_term = _term()
    first = _worker(first_term, url)
    first.run(max_bars=5)
    assert _deals(first_term) > 0  # the first replay left positions in the journal's book
    first.breakers.halted.trip("halted in the MLflow UI")

    second_term = _term(login=5_000_002)  # a new replay: a new, flat simulated account
    second = _worker(second_term, url)
    assert second.breakers.halted.tripped  # trips survive a restart...
    start_fresh_sim_account(second)  # ...but not a new simulated account
    assert not second.breakers.tripped and second.executor.refusing is None
    second.run(max_bars=5)
    assert _deals(second_term) > 0
    assert second.metrics.registry.get_sample_value("trading_refused") == 0.0
    events = second.journal.read_breaker_events("halted")
    assert events["by"].iloc[-1] == SIM_ACCOUNT and events["event"].iloc[-1] == "reset"


def test_on_netting_the_canary_trades_in_shadow_and_the_journal_says_so(tmp_path: Path) -> None:
    bars = make_bars(("EURUSD",), n=40)
    term = SimTerminal(bars, start=10, account_mode="netting")
    shadow = SimTerminal(bars, start=10, account_mode="hedging")
    term.initialize(), shadow.initialize()
    broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
    worker = Worker(term, broker, Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}"),
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
