"""`tate status`, `trades` and `positions` as people run them (the installed command, a
subprocess, from a foreign folder with only TATE_HOME set) on a home whose journal a short real
replay wrote, with a registry (champion and canary) and a failed validation, and the worker's
log line per trade."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.settings import TateSettings
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
    _register(home)
    docs = home / "reports" / "data_docs" / "index.html"
    folder = home / "reports" / "validation" / "2026-01-05T10-00-00-000000Z"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({
        "ok": False, "symbols": list(SYMBOLS), "checks_run": 9, "data_docs_index": str(docs),
        "failures": [{"severity": "error", "check": "no_gaps"}],
    }))  # fmt: skip
    return home


def _register(home: Path) -> None:
    """The registry as training and the canary gate leave it (no model files: status reads
    aliases and tags only): v1 champion, v2 canary widened to a 0.1 risk fraction, the model
    halted by a drift report."""
    from mlflow import MlflowClient

    settings = TateSettings(home=home)
    settings.mlflow_dir.mkdir(parents=True)
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)
    client.create_registered_model(settings.model_name)
    for version, fraction in (("1", None), ("2", "0.1")):
        client.create_model_version(settings.model_name, source=(home / "m").as_uri())
        client.set_model_version_tag(settings.model_name, version, "gate", "passed")
        client.set_model_version_tag(
            settings.model_name, version, "gate_reasons", f"ok: v{version}"
        )
        if fraction:
            client.set_model_version_tag(
                settings.model_name, version, "tate.canary_fraction", fraction
            )
    client.set_registered_model_alias(settings.model_name, "champion", "1")
    client.set_registered_model_alias(settings.model_name, "canary", "2")
    client.set_registered_model_tag(settings.model_name, "halted", "true")
    client.set_registered_model_tag(settings.model_name, "halted_reason", "PSI 0.41 on ret_1")


def _env(home: Path) -> dict[str, str]:
    prefixes = ("TATE_", "MLFLOW_", "PREFECT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "TATE_HOME": str(home)}


def _tate(home: Path, *args: str) -> str:
    foreign = home.parent / "elsewhere"  # not the repo: nothing may depend on the cwd
    foreign.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(BIN / "tate"), *args], env=_env(home), cwd=foreign,
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
    assert {h["state"] for h in shown["health"]} == {"not running (embedded defaults)"}
    (account,) = shown["accounts"]
    assert account["refused"] == "breaker tripped: daily_loss"
    assert [(b["name"], b["tripped"], b["reason"]) for b in account["breakers"]] == [
        ("daily_loss", True, "lost 3.1% today")
    ]
    roles = {r["role"]: r for r in account["roles"]}
    assert set(roles) >= {"champion", "canary"} and roles["canary"]["version"] == "2"
    assert roles["canary"]["decisions_day"] > 0
    aliases = {a["alias"]: a for a in shown["registry"]["aliases"]}
    assert (aliases["canary"]["version"], aliases["canary"]["risk_fraction"]) == ("2", 0.1)
    assert (aliases["champion"]["version"], aliases["champion"]["gate"]) == ("1", "passed")
    assert shown["registry"]["halted"] == "PSI 0.41 on ret_1"
    assert any("`tate resume --by YOU`" in step for step in shown["next_steps"])
    assert {p["role"] for p in shown["pnl"]} == {"champion", "canary"}
    assert {b["role"] for b in shown["error_budgets"]} >= {"champion", "canary"}
    assert all(b["latency"]["total"] > 0 for b in shown["error_budgets"])
    (validation,) = shown["verdicts"]
    assert (validation["kind"], validation["good"]) == ("validation", False)
    docs = str(replayed_home / "reports" / "data_docs" / "index.html")
    reset = "`tate reset-breaker daily_loss --by YOU`"
    assert any(reset in step for step in shown["next_steps"])
    assert any(docs in step for step in shown["next_steps"])

    text = _tate(replayed_home, "status")
    assert "REFUSED" in text and "lost 3.1% today" in text and reset in text and docs in text
    canary = next(line for line in text.splitlines() if line.strip().startswith("canary  "))
    assert canary.split()[:4] == ["canary", "2", "passed", "0.1"]
    assert "worker (tate up): not started on this home\n" in text


SHOW_IMPORTS = """
import json, sys
from typer.testing import CliRunner
from flows.cli import app
done = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": done.exit_code, "output": done.output,
                  "imported": [m for m in ("prefect", "great_expectations") if m in sys.modules]}))
"""


@pytest.mark.parametrize("command", [["status"], ["trades"]])
def test_status_and_trades_import_neither_prefect_nor_great_expectations(
    replayed_home: Path, command: list[str]
) -> None:
    """They read the registry and the journal only: on a home with both, Prefect's and
    great-expectations' seconds of imports stay out."""
    done = subprocess.run(
        [sys.executable, "-c", SHOW_IMPORTS, *command], env=_env(replayed_home),
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["code"] == 0, answer["output"]
    assert answer["imported"] == []
    assert "canary" in answer["output"]


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


@pytest.fixture(scope="module")
def euro_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose journal a replay on a EUR account wrote (EURUSD: valued in EUR at 1/price)."""
    home = tmp_path_factory.mktemp("euro") / "home"
    home.mkdir()
    term = SimTerminal(make_replay_bars(("EURUSD",), n=60), account_mode="hedging",  # type: ignore[arg-type]
                       currency="EUR", login=7_000_002, server="Tate-Euro")  # fmt: skip
    term.initialize()
    journal = Journal(f"sqlite:///{home / 'journal.sqlite'}")
    Worker(
        term, Mt5Broker(term, magic=9100), journal, FakeModelSource.with_roles("champion", "canary"),
        WorkerMetrics(), ReplayClock(term), ("EURUSD",), "H1", max_volume=1.0,
    ).run()  # fmt: skip
    journal.close()
    return home


def _pnl_valued_in(home: Path, currency: str) -> dict[str, float]:
    """Each role's PnL today from `tate trades`' fills, EURUSD valued in ``currency``."""
    from flows.status_view import pnl_today
    from flows.trading_view import Trade

    def value(symbol: str, price: float, account_currency: str) -> float:
        assert (symbol, account_currency) == ("EURUSD", currency)
        return 100_000.0 / price if currency == "EUR" else 100_000.0

    trades = [Trade(**{**t, "at": datetime.fromisoformat(t["at"])})
              for t in json.loads(_tate(home, "trades", "--json"))]  # fmt: skip
    (account,) = json.loads(_tate(home, "status", "--json"))["accounts"]
    newest = {account["account"]: datetime.fromisoformat(account["newest_bar"])}
    found = pnl_today(trades, newest, value, {account["account"]: currency})
    return {p.role: (p.realised or 0.0) + (p.unrealised or 0.0) for p in found}


def test_status_values_a_euro_accounts_pnl_in_the_currency_its_worker_journaled(
    euro_home: Path,
) -> None:
    shown = json.loads(_tate(euro_home, "status", "--json"))
    assert {(p["account"], p["currency"], p["currency_known"]) for p in shown["pnl"]} == {
        ("7000002@Tate-Euro", "EUR", True)
    }
    in_euro, in_dollars = _pnl_valued_in(euro_home, "EUR"), _pnl_valued_in(euro_home, "USD")
    assert any(abs(v) > 1.0 for v in in_euro.values()), "no PnL: the test would prove nothing"
    totals = {p["role"]: p["realised"] + p["unrealised"] for p in shown["pnl"]}
    assert totals == pytest.approx(in_euro) and totals != pytest.approx(in_dollars)
    text = _tate(euro_home, "status")
    assert "currency unknown" not in text
    pnl = text.split("PnL today")[1].split("error budget")[0].splitlines()
    rows = [line.split() for line in pnl if line.strip().startswith("7000002@Tate-Euro")]
    assert {row[3] for row in rows} == {"EUR"}


def test_status_of_a_journal_from_before_the_accounts_table_says_it_assumes_usd(
    euro_home: Path, tmp_path: Path
) -> None:
    """The same journal as a tate before revision 0007 left it: no accounts table. Status (which
    never migrates) values in USD and says so once, instead of silently."""
    from alembic import command

    from serving.journal_engine import make_engine
    from serving.journal_migrations import alembic_config

    home = tmp_path / "home"
    shutil.copytree(euro_home, home)
    engine = make_engine(f"sqlite:///{home / 'journal.sqlite'}")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0006")
    engine.dispose()
    shown = json.loads(_tate(home, "status", "--json"))
    assert {(p["currency"], p["currency_known"]) for p in shown["pnl"]} == {("USD", False)}
    totals = {p["role"]: p["realised"] + p["unrealised"] for p in shown["pnl"]}
    assert totals == pytest.approx(_pnl_valued_in(home, "USD"))
    text = _tate(home, "status")
    assert text.count("currency unknown: assumed USD for 7000002@Tate-Euro") == 1
    pnl = text.split("PnL today")[1].split("error budget")[0].splitlines()
    assert {line.split()[3] for line in pnl if line.strip().startswith("7000002")} == {"USD?"}
    assert len(shown["pnl"]) > 1  # one line for the account, not one per role
