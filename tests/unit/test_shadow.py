"""On a live netting account the canary trades a shadow SimTerminal that follows the live
terminal's bars: same fills model, its own book, the account untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.costs import CostModel
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.sim.shadow import ShadowTerminal
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource

MAGIC = 5300


def _live() -> SimTerminal:
    """Stands in for the live netting terminal (any object with the MetaTrader5 API)."""
    live = SimTerminal(
        make_replay_bars(("EURUSD", "USDJPY"), n=120), start=60, account_mode="netting"
    )
    live.initialize()
    return live


def test_the_shadow_follows_the_live_bars_and_keeps_its_own_book(tmp_path: Path) -> None:
    live = _live()
    shadow = ShadowTerminal(live, ("EURUSD", "USDJPY"), "H1", history=100)
    shadow.initialize()
    assert shadow.now == live.now
    broker = Mt5Broker(live, magic=MAGIC, sleep=lambda s: None)
    worker = Worker(live, broker, Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}"),
                    FakeModelSource.with_roles("champion", "canary"), WorkerMetrics(),
                    ReplayClock(live), ("EURUSD", "USDJPY"), "H1",
                    shadow_terminal=shadow)  # fmt: skip
    worker.run(max_bars=20)
    assert shadow.now == live.now
    live_deals = live.history_deals_get(0, 2**40)
    shadow_deals = shadow.history_deals_get(0, 2**40)
    assert live_deals and {d.magic for d in live_deals} == {MAGIC}
    assert shadow_deals and {d.magic for d in shadow_deals} == {MAGIC + 1}
    assert set(worker.journal.read_decisions()["role"]) == {"champion", "shadow"}
    assert worker.executor.refusing is None


def test_shadow_fills_are_the_live_bars_open_plus_spread_for_a_buy() -> None:
    live = _live()
    shadow = ShadowTerminal(live, ("EURUSD",), "H1", history=100)
    shadow.initialize()
    bar = live.copy_rates_from_pos("EURUSD", 16385, 0, 1)[0]  # the forming bar (H1)
    result = Mt5Broker(shadow, magic=MAGIC + 1).rebalance("EURUSD", 0.1, intent_id="x")
    spec = shadow.specs["EURUSD"]
    assert result[0].price == pytest.approx(bar["open"] + bar["spread"] * spec.point)


def test_a_shadow_refuses_latency_it_cannot_model() -> None:
    with pytest.raises(ValueError, match="latency_bars must be 0"):
        ShadowTerminal(_live(), ("EURUSD",), "H1", costs=CostModel(latency_bars=1))


def test_serve_gives_a_live_netting_account_a_shadow_and_a_hedging_one_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.settings import TateSettings
    from flows.terminals import live_shadow

    monkeypatch.setenv("TATE_HOME", str(tmp_path))
    settings = TateSettings()
    assert isinstance(live_shadow(_live(), ("EURUSD",), settings), ShadowTerminal)
    hedging = SimTerminal(make_replay_bars(("EURUSD",), n=80), start=60, account_mode="hedging")
    hedging.initialize()
    assert live_shadow(hedging, ("EURUSD",), settings) is None
