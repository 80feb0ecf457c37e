"""`tate status`'s pure parts: today's PnL from fills, error budgets from journal rows, the
"what to do next" lines, and the screen and JSON built from gathered facts (no I/O)."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from flows.settings import TateSettings
from flows.status_facts import EMBEDDED, probe, stack_health
from flows.status_view import (
    AliasFacts,
    Health,
    LastVerdict,
    RegistryFacts,
    StatusFacts,
    error_budgets,
    format_screen,
    next_steps,
    pnl_today,
    status_json,
)
from flows.trading_view import AccountStatus, Breaker, Trade

ACCOUNT = "1001@Sim"
TODAY = datetime(2026, 1, 6, 9, tzinfo=UTC)
YESTERDAY = TODAY - timedelta(days=1)
LOT = 100_000.0


def _trade(at: datetime, symbol: str, side: str, volume: float, price: float, role: str) -> Trade:
    return Trade(at, ACCOUNT, role, symbol, side, volume, price, 1, 1, "i", "filled")


def _value(symbol: str, price: float, currency: str) -> float | None:
    """A USD account: EURUSD's move is in USD, USDJPY's in JPY (÷ price); GBPJPY is a cross.
    A EUR account: EURUSD's move in USD is ÷ price; USDJPY and GBPJPY are crosses."""
    if currency == "EUR":
        return {"EURUSD": LOT / price}.get(symbol)
    assert currency == "USD", currency
    return {"EURUSD": LOT, "USDJPY": LOT / price}.get(symbol)


def test_pnl_today_counts_todays_closes_and_marks_open_lots_at_the_last_fill() -> None:
    trades = [
        _trade(YESTERDAY, "EURUSD", "buy", 0.2, 1.10, "champion"),
        _trade(YESTERDAY, "EURUSD", "sell", 0.1, 1.09, "champion"),  # closed yesterday: not today
        _trade(TODAY, "EURUSD", "sell", 0.1, 1.12, "champion"),  # closes the rest: +0.02 × 0.1 lot
        _trade(TODAY, "USDJPY", "sell", 0.2, 150.0, "canary"),
        _trade(TODAY + timedelta(minutes=5), "USDJPY", "buy", 0.1, 151.0, "champion"),
    ]
    found = {p.role: p for p in pnl_today(trades, {ACCOUNT: TODAY}, _value, {ACCOUNT: "USD"})}
    champion, canary = found["champion"], found["canary"]
    assert champion.day == date(2026, 1, 6)
    assert champion.realised == pytest.approx(0.02 * 0.1 * LOT)
    # the champion's open long USDJPY is marked at the account's last USDJPY fill: no move yet
    assert champion.unrealised == pytest.approx(0.0) and champion.open_positions == 1
    # the canary is short 0.2 from 150, marked at 151: -1 JPY × 0.2 lot, in USD at 151
    assert canary.realised == 0.0
    assert canary.unrealised == pytest.approx(-1.0 * 0.2 * LOT / 151.0)


def test_pnl_of_a_symbol_that_cannot_be_valued_is_unknown_not_zero() -> None:
    trades = [
        _trade(TODAY, "GBPJPY", "buy", 0.1, 190.0, "champion"),
        _trade(TODAY, "USDJPY", "buy", 0.1, 150.0, "champion"),  # valued after the cross
        _trade(TODAY, "GBPJPY", "sell", 0.1, 191.0, "canary"),
        _trade(TODAY, "GBPJPY", "buy", 0.1, 190.5, "canary"),  # closes at a profit in JPY
    ]
    pnl = {p.role: p for p in pnl_today(trades, {ACCOUNT: TODAY}, _value, {ACCOUNT: "USD"})}
    assert pnl["champion"].unrealised is None and pnl["champion"].open_positions == 2
    assert pnl["canary"].realised is None and pnl["canary"].unrealised == 0.0


def test_pnl_is_valued_in_each_accounts_journaled_currency_and_says_when_it_assumes() -> None:
    """Two accounts: one whose worker journaled EUR, one from before the accounts table."""
    old = "7@Old"
    trades = [
        _trade(TODAY, "EURUSD", "buy", 0.1, 1.10, "champion"),
        _trade(TODAY, "EURUSD", "sell", 0.1, 1.12, "champion"),  # +0.02 USD per unit
        Trade(TODAY, old, "champion", "EURUSD", "buy", 0.1, 1.10, 2, 2, "j", "filled"),
        Trade(TODAY, old, "champion", "EURUSD", "sell", 0.1, 1.12, 3, 3, "j", "filled"),
    ]
    found = {p.account: p for p in pnl_today(trades, {}, _value, {ACCOUNT: "EUR"})}
    eur, assumed = found[ACCOUNT], found[old]
    assert (eur.currency, eur.currency_known) == ("EUR", True)
    assert eur.realised == pytest.approx(0.02 * 0.1 * LOT / 1.12)  # USD → EUR at the fill
    assert (assumed.currency, assumed.currency_known) == ("USD", False)
    assert assumed.realised == pytest.approx(0.02 * 0.1 * LOT)
    text = format_screen(_facts(pnl=[eur, assumed, replace(assumed, role="canary")]))
    assert text.count("currency unknown: assumed USD") == 1  # once, however many rows
    assert f"assumed USD for {old} " in text and ACCOUNT not in text.split("currency unknown")[1]
    rows = {line.split()[0]: line.split() for line in text.splitlines() if "2026-01-06" in line}
    assert rows[ACCOUNT][3] == "EUR" and rows[old][3] == "USD?"
    assert not [line for line in format_screen(_facts(pnl=[eur])).splitlines()
                if "currency unknown" in line]  # fmt: skip
    pnl = {p["account"]: p for p in status_json(_facts(pnl=[eur, assumed]))["pnl"]}
    assert (pnl[ACCOUNT]["currency"], pnl[ACCOUNT]["currency_known"]) == ("EUR", True)
    assert (pnl[old]["currency"], pnl[old]["currency_known"]) == ("USD", False)


def _decision(at: datetime, latency: float | None, intent: str, role: str = "champion") -> dict:
    return {"account": ACCOUNT, "role": role, "bar_time": at, "latency_seconds": latency,
            "intent_id": intent}  # fmt: skip


def test_error_budgets_count_the_window_ending_at_the_newest_bar() -> None:
    decisions = [
        _decision(TODAY - timedelta(days=40), 5.0, "old"),  # outside a 28-day window
        *(_decision(TODAY - timedelta(hours=h), 0.01, f"i{h}") for h in range(19)),
        _decision(TODAY, 0.5, "slow"),  # one slow decision of 20: the whole 5 % allowed
        _decision(TODAY, None, "canary-1", role="canary"),  # not measured: not counted
    ]
    states = [("i1", "filled"), ("i2", "rejected"), ("old", "rejected"), ("canary-1", "filled")]
    budgets = {b.role: b for b in error_budgets(
        decisions, states, window=timedelta(days=28), latency_threshold=0.2,
        latency_target=0.95, execution_target=0.5,
    )}  # fmt: skip
    champion = budgets["champion"]
    assert (champion.latency.good, champion.latency.total) == (19, 20)
    assert champion.latency.spent
    assert (champion.execution.good, champion.execution.total) == (1, 2)
    assert champion.execution.remaining == pytest.approx(0.0)
    assert budgets["canary"].latency.total == 0 and budgets["canary"].execution.good == 1


T_BREAKER = datetime(2026, 1, 6, 8, tzinfo=UTC)


def _facts(**changes: object) -> StatusFacts:
    facts = {
        "health": [Health("Prefect API", "-", "not running (embedded defaults)"),
                   Health("worker /metrics", "http://127.0.0.1:9464/metrics", "DOWN", "refused")],
        "worker": {"up": False, "pid": None, "supervisor_up": False, "supervisor_pid": None,
                   "restarts": 2, "last_restart_at": None, "last_restart_reason": None},
        "registry": RegistryFacts("tate-lgbm", [
            AliasFacts("champion", "3", "passed", "all checks passed", 1.0),
            AliasFacts("canary", "4", "passed", "ok: deflated Sharpe 0.97; " * 40, 0.05),
        ], halted="PSI 0.41 on ret_1"),
        "accounts": [AccountStatus(ACCOUNT, TODAY, [], [
            Breaker("daily_loss", True, "lost 3.1% today", T_BREAKER),
            Breaker("latency", False, "reset by ops", T_BREAKER),
        ], "breaker tripped: daily_loss")],
        "pnl": [], "budgets": [],
        "verdicts": [
            LastVerdict("validation", "2026-01-06T10-00-00-000000Z", "FAILED", False, "2 errors",
                        "/home/reports/data_docs/index.html"),
            LastVerdict("drift", "2026-01-06", "HALTED", False, "PSI",
                        "/home/reports/drift/x/report.html"),
        ],
    }  # fmt: skip
    return StatusFacts(**{**facts, **changes})  # type: ignore[arg-type]


def test_next_steps_name_the_command_for_each_thing_wrong() -> None:
    steps = "\n".join(next_steps(_facts()))
    assert "`tate reset-breaker daily_loss --by YOU`" in steps and "lost 3.1% today" in steps
    assert "reset-breaker latency" not in steps  # reset: nothing to do
    assert "/home/reports/data_docs/index.html" in steps
    assert "/home/reports/drift/x/report.html" in steps and "`tate train`" in steps
    assert "`tate up`" in steps and "worker /metrics does not answer" in steps
    assert "no champion" not in steps


def test_a_home_with_nothing_wrong_says_so_and_one_without_champion_says_how() -> None:
    fine = _facts(
        health=[], worker={**_facts().worker, "up": True, "pid": 7, "supervisor_up": True},
        registry=RegistryFacts("tate-lgbm", [AliasFacts("champion", "3", "passed", "", 1.0)]),
        accounts=[], verdicts=[],
    )  # fmt: skip
    assert next_steps(fine) == []
    assert format_screen(fine).endswith("nothing needs doing\n")
    orphan = _facts(registry=RegistryFacts("tate-lgbm"))
    assert any("`tate train`" in s and "`tate promote`" in s for s in next_steps(orphan))


def test_the_screen_and_the_json_carry_the_same_facts() -> None:
    facts = _facts()
    text = format_screen(facts)
    assert "HALTED (PSI 0.41 on ret_1)" in text
    canary = next(line for line in text.splitlines() if line.strip().startswith("canary"))
    assert canary.split()[:4] == ["canary", "4", "passed", "0.05"]  # long reasons wrap
    assert "/home/reports/data_docs/index.html" in text.split("what to do next:")[0]
    assert "2026-01-06 10:00:00" in text and "FAILED" in text  # a run folder's time, read
    assert "not running (embedded defaults)" in text and "DOWN" in text
    assert "lost 3.1% today" in text and "what to do next:" in text
    payload = status_json(facts)
    aliases = {a["alias"]: a for a in payload["registry"]["aliases"]}
    assert (aliases["canary"]["version"], aliases["canary"]["risk_fraction"]) == ("4", 0.05)
    assert payload["accounts"][0]["breakers"][0]["reason"] == "lost 3.1% today"
    assert payload["next_steps"] == next_steps(facts)


def test_health_says_down_for_a_server_that_was_named_and_embedded_for_one_that_was_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4999/api")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    asked: list[str] = []

    def refused(url: str) -> str | None:
        asked.append(url)
        return "connection refused"

    health = {h.name: h for h in stack_health(TateSettings(), refused)}
    assert asked == ["http://127.0.0.1:4999/api/health"]  # nothing else is configured to run
    assert (health["Prefect API"].state, health["Prefect API"].detail) == (
        "DOWN",
        "connection refused",
    )
    assert health["MLflow"].state == health["worker /metrics"].state == EMBEDDED
    steps = next_steps(_facts(health=list(health.values())))
    assert any("Prefect API does not answer at http://127.0.0.1:4999/api" in s for s in steps)


def test_probe_answers_what_went_wrong_for_a_closed_port() -> None:
    with socket.socket() as held:  # bound, never listening: the port refuses connections
        held.bind(("127.0.0.1", 0))
        problem = probe(f"http://127.0.0.1:{held.getsockname()[1]}/health", timeout_s=1.0)
    assert problem is not None and "refused" in problem.lower()
