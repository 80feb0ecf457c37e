"""A replay's evidence does not move when the worker's path is made faster.

The same 400 bars replayed by the same models through the real worker, broker, executor,
SimTerminal (hedging: champion and canary both trade) and a WAL journal file must leave the
same journal rows, deals, positions and account as the worker did before its speed work
(issue 9). The figures below were taken from that worker (commit c7d01e3); a change that
means to alter what the worker writes updates them and says why in its commit.
"""

from __future__ import annotations

from pathlib import Path

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource
from tests.replay_record import digests, replay_record

SYMBOLS = ("EURUSD", "USDJPY")
BARS = 400
RECORDED = {
    "decisions": "1b7651ef19d46aec534767e961865aa3620e8985f9d953a668eb478f7cd6515d",
    "order_events": "e3f927e95b619f666993c548134ab9c92ec51e5fd94905c3241675a1fc342625",
    "intents": "f588e6dd325ecf8235d860ae5baec14d593603b1f9eb6f8da3c075c334256dc0",
    "intent_orders": "b04955ee4b942a24a9c2d5e5d563cfaea5f73e88f6b49fa01e0ef57c826e4cb2",
    "breaker_events": "bcac20a38bf0eb4efd52cfc3bcd3b11e6aad8fd06b22cbd876791859f6cccf9a",
    "deals": "1fd1709560dba0a2996d6521e4af43cd3ea843328add26ba4ae1cb89f785b6c8",
    "positions": "bf7e36ca37c4f3788c3859f0a5e52299c7b86bd2c854f30b69e836f059f6cdcc",
    "account": "b1399b05fbbfef07a74d9514c26b45549c2591faceba6879830791a75af6cf3e",
}


def test_a_400_bar_replay_leaves_the_journal_deals_and_account_it_always_did(
    tmp_path: Path,
) -> None:
    terminal = SimTerminal(make_replay_bars(SYMBOLS, n=BARS), account_mode="hedging")
    terminal.initialize()
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    clock = ReplayClock(terminal)
    worker = Worker(
        terminal,
        Mt5Broker(terminal, magic=9100, now=clock.now, sleep=clock.sleep),
        journal,
        FakeModelSource.with_roles("champion", "canary"),
        WorkerMetrics(),
        clock,
        SYMBOLS,
        "H1",
        max_volume=1.0,
        canary_fraction=0.05,
    )
    try:
        assert worker.run() == BARS
        record = replay_record(journal, terminal)
    finally:
        journal.close()
    # the replay trades and trips breakers, so every part below carries evidence
    assert len(record["decisions"]) > 1_000 and len(record["deals"]) > 1_000
    assert record["breaker_events"] and record["positions"]
    assert digests(record) == RECORDED
