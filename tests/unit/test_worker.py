"""The worker decides on closed bars only, journals every intent before trading it, and
stamps each role's orders with its own magic."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from serving.execution.broker import Mt5Broker
from serving.identities import make_intent_id
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.registry.source import LoadedModel
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModel, FakeModelSource

MAGIC = 9100
SYMBOLS = ("EURUSD", "USDJPY")


class JournalCheckingTerminal(SimTerminal):
    """At each ``order_send``, reads the journal through its own connection — what another
    process would find after a crash right now — and records what it says of the order."""

    journal: Journal
    seen: list[tuple[int, str, int]]

    def order_send(self, request: Any) -> Any:
        key = request["comment"][1:]  # t<intent_id>.<seq>: the worker's ids fit in full
        intent_id = key.split(".")[0]
        with self.journal.engine.connect() as conn:
            decided = conn.exec_driver_sql(
                "SELECT count(*) FROM decisions WHERE intent_id = ?", (intent_id,)
            ).scalar()
            (state,) = conn.exec_driver_sql(
                "SELECT state FROM intent_orders WHERE order_key = ?", (key,)
            ).one()
            answered = conn.exec_driver_sql(
                "SELECT count(*) FROM order_events WHERE intent_id = ?", (intent_id,)
            ).scalar()
        self.seen.append((decided, state, answered))
        return super().order_send(request)


class TerminalWatchingModel(FakeModel):
    """Records, at each decision, the terminal's forming-bar time next to the window's last."""

    def __init__(self, terminal: SimTerminal, window: int = 8) -> None:
        super().__init__(window)
        self.terminal = terminal
        self.pairs: list[tuple[int, int]] = []

    def decide(self, window: np.ndarray) -> Any:
        self.pairs.append((self.terminal.now, int(window["time"][-1])))
        return super().decide(window)


def _worker(mode: str = "hedging", roles: tuple[str, ...] = ("champion", "canary"), n: int = 60):
    term = SimTerminal(make_replay_bars(SYMBOLS, n=n), account_mode=mode)  # type: ignore[arg-type]
    term.initialize()
    journal = Journal("sqlite://")
    source = FakeModelSource.with_roles(*roles)
    worker = Worker(
        term, Mt5Broker(term, magic=MAGIC), journal, source, WorkerMetrics(), ReplayClock(term),
        SYMBOLS, "H1", max_volume=1.0, canary_fraction=0.05,
    )  # fmt: skip
    return term, journal, source, worker


def test_every_decision_is_journaled_with_its_features() -> None:
    _term, journal, _, worker = _worker()
    assert worker.run() == 60
    decisions = journal.read_decisions()
    per_pair = decisions.groupby(["symbol", "role"]).size()
    assert (per_pair == 60 - 8).all() and len(per_pair) == 4
    assert decisions[["return_1", "return_window"]].notna().all().all()
    assert decisions["intent_id"].is_unique


def test_the_worker_never_decides_on_the_forming_bar() -> None:
    term = SimTerminal(make_replay_bars(SYMBOLS, n=40))
    term.initialize()
    model = TerminalWatchingModel(term)
    source = FakeModelSource({"champion": LoadedModel("fake", "1", "champion", model)})
    worker = Worker(term, Mt5Broker(term, magic=MAGIC), Journal("sqlite://"), source,
                    WorkerMetrics(), ReplayClock(term), SYMBOLS, "H1")  # fmt: skip
    worker.run()
    assert model.pairs and all(last == now - 3600 for now, last in model.pairs)
    assert all(len(w) == 8 and (w["high"] != w["low"]).any() for w in model.seen)


def test_each_decision_and_order_is_committed_before_its_order_send(tmp_path: Path) -> None:
    term = JournalCheckingTerminal(make_replay_bars(SYMBOLS, n=40), account_mode="hedging")
    term.initialize()
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    term.journal, term.seen = Journal(url), []
    source = FakeModelSource.with_roles("champion", "canary")
    worker = Worker(
        term, Mt5Broker(term, magic=MAGIC), Journal(url), source, WorkerMetrics(),
        ReplayClock(term), SYMBOLS, "H1",
    )  # fmt: skip
    worker.run(max_bars=30)
    assert len(term.seen) > 20
    assert all(seen == (1, "sent", 0) for seen in term.seen), term.seen
    assert set(worker.journal.read_decisions()["account"]) == {worker.account}


def test_champion_and_canary_orders_carry_their_own_magic_and_budget() -> None:
    term, _, _, worker = _worker("hedging")
    worker.run()
    deals = term.history_deals_get(0, 2**40)
    assert {d.magic for d in deals} == {MAGIC, MAGIC + 1}
    canary_lots = [d.volume for d in deals if d.magic == MAGIC + 1]
    assert max(canary_lots) <= 0.05 + 1e-9
    champion = worker.brokers["champion"]
    assert all(abs(champion.net_position(s)) <= 1.0 for s in SYMBOLS)


def test_on_a_netting_account_the_canary_decides_but_does_not_trade() -> None:
    term, journal, _, worker = _worker("netting")
    worker.run()
    assert {d.magic for d in term.history_deals_get(0, 2**40)} == {MAGIC}
    canary = journal.read_decisions().query("role == 'canary'")
    assert len(canary) > 0 and (canary["size"] == 0).all()


def test_a_lost_reply_still_gives_exactly_one_deal_per_intent() -> None:
    term, journal, _, worker = _worker("hedging", roles=("champion",))
    term.inject(*["none"] * 200)
    worker.run()
    events = journal.read_order_events()
    assert (events["state"] == "filled_reconciled").all()
    comments = [d.comment for d in term.history_deals_get(0, 2**40)]
    assert len(comments) == len(set(comments)) == len(events)


def test_an_operational_retcode_trips_the_breaker_and_trading_stops() -> None:
    term, journal, _, worker = _worker("hedging", roles=("champion",))
    worker.run(max_bars=12)
    term.inject(*[mt5.TRADE_RETCODE_CLIENT_DISABLES_AT] * 5)
    worker.run(max_bars=10)
    assert worker.breaker.tripped and "10027" in (worker.breaker.reason or "")
    deals_after_trip = len(term.history_deals_get(0, 2**40))
    worker.run()
    assert len(term.history_deals_get(0, 2**40)) == deals_after_trip
    assert (journal.read_decisions().tail(5)["size"] == 0).all()


def test_aliases_are_refreshed_once_between_bars() -> None:
    _, _, source, worker = _worker()
    assert worker.run(max_bars=7) == 7
    assert source.refreshes == 7


def test_intent_ids_are_short_and_deterministic() -> None:
    a = make_intent_id("3", "champion", "EURUSD", 1_700_000_000)
    assert a == make_intent_id("3", "champion", "EURUSD", 1_700_000_000)
    assert a != make_intent_id("3", "canary", "EURUSD", 1_700_000_000) and len(a) == 16


def test_intent_ids_grow_with_the_bar_so_the_journal_indexes_them_at_one_edge() -> None:
    hour = [make_intent_id("3", r, s, 1_700_000_000) for r in ("champion", "canary") for s in "AB"]
    next_hour = make_intent_id("3", "champion", "A", 1_700_003_600)
    assert max(hour) < next_hour and len({i[:8] for i in hour}) == 1


class WindowCountingTerminal(SimTerminal):
    """Counts the closed windows asked for (the breakers' one-bar reads left out)."""

    windows = 0

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int) -> Any:
        self.windows += count > 1
        return super().copy_rates_from_pos(symbol, timeframe, start_pos, count)


def test_roles_of_one_window_length_share_the_symbols_window_and_decide_the_same_bar() -> None:
    term = WindowCountingTerminal(make_replay_bars(SYMBOLS, n=30), account_mode="hedging")  # type: ignore[arg-type]
    term.initialize()
    journal = Journal("sqlite://")
    worker = Worker(
        term, Mt5Broker(term, magic=MAGIC), journal, FakeModelSource.with_roles("champion", "canary"),
        WorkerMetrics(), ReplayClock(term), SYMBOLS, "H1",
    )  # fmt: skip
    bars = worker.run()
    assert term.windows == bars * len(SYMBOLS)  # one fetch per symbol and pass, not per role
    decisions = journal.read_decisions()
    per_bar = decisions.groupby(["symbol", "bar_time"])["role"].apply(sorted)
    assert (per_bar.apply(tuple) == ("canary", "champion")).all()


def test_the_last_bar_gauge_follows_every_new_closed_bar() -> None:
    term, journal, _, worker = _worker(n=20)
    stamps = []
    for _ in range(12):
        worker.process_bar()
        stamps.append(worker.metrics.registry.get_sample_value("last_bar_timestamp_seconds"))
        term.advance()
    decided = journal.read_decisions()["bar_time"].drop_duplicates()
    newest = [int(t.timestamp()) for t in decided]
    assert len(newest) == 12 - 8  # the first decision needs a window of 8 closed bars
    assert stamps[-len(newest) :] == newest


def test_an_intent_id_is_the_bar_time_then_the_sha1_of_the_decision_and_account() -> None:
    """The ids journaled so far must stay what they were: a restart finds its intents by id."""
    ids = [make_intent_id("3", "champion", "EURUSD", 1_700_000_000, "5@sim") for _ in range(2)]
    digest = hashlib.sha1(b"3-champion-EURUSD-1700000000-5@sim").hexdigest()
    assert ids == [f"{1_700_000_000:08x}{digest[:8]}"] * 2
    other = hashlib.sha1(b"4-canary-USDJPY-8589934597-").hexdigest()
    assert make_intent_id("4", "canary", "USDJPY", 2**33 + 5) == f"00000005{other[:8]}"
