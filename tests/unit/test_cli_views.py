"""`tate status`, `trades` and `positions` as people run them (the installed command, a
subprocess) on a journal a short real replay wrote, and the worker's log line per trade."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from serving.execution.broker import Mt5Broker
from serving.execution.store import IntentJournal
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource
from tests.servers import BIN

SYMBOLS = ("EURUSD", "USDJPY")


def _replay(url: str) -> tuple[Worker, Journal]:
    term = SimTerminal(make_replay_bars(SYMBOLS, n=60), account_mode="hedging")  # type: ignore[arg-type]
    term.initialize()
    journal = Journal(url)
    worker = Worker(
        term, Mt5Broker(term, magic=9100), journal, FakeModelSource.with_roles("champion", "canary"),
        WorkerMetrics(), ReplayClock(term), SYMBOLS, "H1", max_volume=1.0, canary_fraction=0.05,
    )  # fmt: skip
    worker.run()
    return worker, journal


@pytest.fixture(scope="module")
def replayed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose journal holds a champion's and a canary's replay and a tripped breaker."""
    home = tmp_path_factory.mktemp("views") / "home"
    home.mkdir()
    worker, journal = _replay(f"sqlite:///{home / 'journal.sqlite'}")
    journal.record_breaker_event(
        breaker="daily_loss", event="trip", reason="lost 3.1% today",
        at=datetime(2026, 1, 5, tzinfo=UTC), by="worker", account=worker.account,
    )  # fmt: skip
    journal.close()
    return home


def _tate(home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TATE_", "MLFLOW_"))}
    done = subprocess.run(
        [str(BIN / "tate"), *args], env={**env, "TATE_HOME": str(home)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _journal_fills(home: Path) -> list[tuple[int, str, float, float]]:
    journal = Journal(f"sqlite:///{home / 'journal.sqlite'}")
    (account,) = set(journal.read_decisions()["account"])
    orders = IntentJournal(journal, account).read_orders()
    journal.close()
    filled = orders[orders["filled_volume"] > 0]
    return sorted(
        (int(r.ticket), r.symbol, float(r.filled_volume), float(r.price))
        for r in filled.itertuples()
    )


def test_trades_match_the_journals_filled_orders(replayed_home: Path) -> None:
    shown = json.loads(_tate(replayed_home, "trades", "--json"))
    fills = _journal_fills(replayed_home)
    assert fills, "the replay traded nothing: the test would prove nothing"
    assert sorted((t["ticket"], t["symbol"], t["volume"], t["price"]) for t in shown) == fills
    assert {t["role"] for t in shown} == {"champion", "canary"}
    newest = json.loads(_tate(replayed_home, "trades", "--json", "--last", "2", "--role", "canary"))
    assert [t["role"] for t in newest] == ["canary", "canary"]
    assert newest == [t for t in shown if t["role"] == "canary"][-2:]
    assert "canary" in _tate(replayed_home, "trades", "--symbol", "EURUSD")


def test_status_shows_the_tripped_breaker_and_the_canary(replayed_home: Path) -> None:
    shown = json.loads(_tate(replayed_home, "status", "--json"))
    assert shown["worker"] is None  # no `tate up` on this home
    (account,) = shown["accounts"]
    assert account["refused"] == "breaker tripped: daily_loss"
    assert [(b["name"], b["tripped"]) for b in account["breakers"]] == [("daily_loss", True)]
    roles = {r["role"]: r for r in account["roles"]}
    assert set(roles) >= {"champion", "canary"} and roles["canary"]["version"] == "2"
    assert roles["canary"]["decisions_day"] > 0
    text = _tate(replayed_home, "status")
    assert "REFUSED" in text and "lost 3.1% today" in text and "canary" in text
    assert text.startswith("worker (tate up): not started on this home\n")


def test_positions_add_up_the_journals_fills(replayed_home: Path) -> None:
    shown = json.loads(_tate(replayed_home, "positions", "--json"))
    trades = json.loads(_tate(replayed_home, "trades", "--json"))
    for position in shown:
        mine = [
            t for t in trades
            if (t["role"], t["symbol"]) == (position["role"], position["symbol"])
        ]  # fmt: skip
        net = sum(t["volume"] if t["side"] == "buy" else -t["volume"] for t in mine)
        assert round(net, 8) == position["lots"] != 0


def test_the_worker_logs_each_fill_once_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="serving.worker")
    _worker, journal = _replay("sqlite://")
    (account,) = set(journal.read_decisions()["account"])
    orders = IntentJournal(journal, account).read_orders()
    logged = [r for r in caplog.records if getattr(r, "trade", False)]
    assert len(logged) == int((orders["filled_volume"] > 0).sum()) > 0
    by_ticket = {int(r.ticket): r for r in orders.itertuples()}
    for record in logged:
        order = by_ticket[record.ticket]  # type: ignore[attr-defined]
        assert record.symbol == order.symbol and record.intent_id == order.intent_id  # type: ignore[attr-defined]
        assert record.side == ("buy" if order.side > 0 else "sell")  # type: ignore[attr-defined]
        assert record.role in ("champion", "canary") and record.volume > 0  # type: ignore[attr-defined]
