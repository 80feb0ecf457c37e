"""Each trading role's way of trading is chosen once, at start-up, from the account's margin
mode: hedging keeps the canary on the account under magic + 1; netting sends it to a shadow
SimTerminal when there is one, else lets it decide without trading."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.roles import AccountRole, DecideOnlyRole, ShadowRole
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource

MAGIC = 6100
BARS = make_replay_bars(("EURUSD",), n=40)


def _terminal(mode: str) -> SimTerminal:
    term = SimTerminal(BARS, start=10, account_mode=mode)  # type: ignore[arg-type]
    term.initialize()
    return term


def _worker(term: SimTerminal, tmp_path: Path, shadow: SimTerminal | None = None) -> Worker:
    broker = Mt5Broker(term, magic=MAGIC, sleep=lambda s: None)
    return Worker(term, broker, Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}"),
                  FakeModelSource.with_roles("champion", "canary"), WorkerMetrics(),
                  ReplayClock(term), ("EURUSD",), "H1", shadow_terminal=shadow)  # fmt: skip


def test_hedging_keeps_the_canary_on_the_account_under_the_next_magic(tmp_path: Path) -> None:
    worker = _worker(_terminal("hedging"), tmp_path, shadow=_terminal("hedging"))
    champion, canary = worker.roles["champion"], worker.roles["canary"]
    assert isinstance(champion, AccountRole) and isinstance(canary, AccountRole)
    assert champion.account_broker() is worker.brokers["champion"]
    assert canary.account_broker() is worker.brokers["canary"]
    assert (canary.journal_role, canary.budget) == ("canary", worker.canary_fraction)


def test_netting_with_a_shadow_trades_the_canary_there_as_shadow(tmp_path: Path) -> None:
    shadow = _terminal("hedging")
    worker = _worker(_terminal("netting"), tmp_path, shadow=shadow)
    canary = worker.roles["canary"]
    assert isinstance(canary, ShadowRole) and canary.journal_role == "shadow"
    assert canary.broker.magic == MAGIC + 1 and canary.account_broker() is None
    assert isinstance(worker.roles["champion"], AccountRole)


def test_netting_without_a_shadow_decides_the_canary_without_trading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    term = _terminal("netting")
    worker = _worker(term, tmp_path)
    canary = worker.roles["canary"]
    assert isinstance(canary, DecideOnlyRole) and canary.journal_role == "canary"
    with caplog.at_level("WARNING", logger="serving.worker"):
        worker.run(max_bars=6)
    assert worker.roles["canary"] is canary  # fixed at start-up, not re-chosen per bar
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("netting")]
    assert said == ["netting account: the canary decides but does not trade (no shadow terminal)"]
    assert {d.magic for d in term.history_deals_get(0, 2**40)} == {MAGIC}
    decisions = worker.journal.read_decisions()
    canary_sizes = decisions.loc[decisions["role"] == "canary", "size"]
    assert len(canary_sizes) == 6 and (canary_sizes == 0).all()


def test_a_role_the_worker_does_not_trade_only_decides(tmp_path: Path) -> None:
    worker = _worker(_terminal("hedging"), tmp_path)
    other = worker._role("challenger")
    assert isinstance(other, DecideOnlyRole) and not other.tradable()
    assert worker._role("challenger") is other
