"""What `tate status`, `trades` and `positions` show, from journal records (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.trading_view import (
    AccountStatus,
    as_json,
    breakers_of,
    format_positions,
    format_status,
    format_trades,
    positions_of,
    refusal,
    role_status,
    select_trades,
    trades_of,
)
from serving.execution.records import IntentRecord, OrderRecord, order_of

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
ACCOUNT = "1001@Sim"


def _intent(intent_id: str, role: str) -> IntentRecord:
    return IntentRecord(
        intent_id, role, "EURUSD", 9100, T0, 0.1, 0.1, 0.0, "filled", "", T0, T0, ACCOUNT
    )


def _order(key: str, intent_id: str, side: int, lots: float, price: float, *, state: str = "filled",
           minutes: int = 0, symbol: str = "EURUSD") -> OrderRecord:  # fmt: skip
    at = T0 + timedelta(minutes=minutes)
    return order_of({
        "order_key": key, "intent_id": intent_id, "seq": 0, "symbol": symbol, "magic": 9100,
        "side": side, "volume": lots, "position": 0, "comment": "", "state": state,
        "retcode": 10009, "ticket": 100 + minutes, "deal": 200 + minutes,
        "filled_volume": lots if state == "filled" else 0.0, "price": price, "attempts": 1,
        "sent_time": 0, "matched_by": "answer", "request": None, "reason": "",
        "created_at": at, "updated_at": at, "account": ACCOUNT,
    })  # fmt: skip


def test_only_filled_orders_become_trades_with_their_intents_role() -> None:
    intents = {"a": _intent("a", "champion"), "b": _intent("b", "canary")}
    orders = [
        _order("b.0", "b", -1, 0.02, 1.2, minutes=5),
        _order("a.0", "a", 1, 0.1, 1.1, minutes=1),
        _order("a.1", "a", 1, 0.1, 1.1, state="rejected", minutes=2),
    ]
    found = trades_of(orders, intents)
    assert [(t.role, t.side, t.volume, t.ticket) for t in found] == [
        ("champion", "buy", 0.1, 101),
        ("canary", "sell", 0.02, 105),
    ]
    assert select_trades(found, last=1, role=None, symbol=None) == found[-1:]
    assert select_trades(found, last=None, role="champion", symbol=None) == found[:1]
    assert select_trades(found, last=None, role=None, symbol="USDJPY") == []


def test_positions_net_the_fills_and_average_only_the_opening_side() -> None:
    intents = {"a": _intent("a", "champion")}
    orders = [
        _order("1", "a", 1, 0.1, 1.10, minutes=1),
        _order("2", "a", 1, 0.1, 1.20, minutes=2),  # adds: average 1.15
        _order("3", "a", -1, 0.05, 1.30, minutes=3),  # reduces: average kept
        _order("4", "a", 1, 0.2, 150.0, minutes=4, symbol="USDJPY"),
        _order("5", "a", -1, 0.2, 151.0, minutes=5, symbol="USDJPY"),  # flat: left out
    ]
    (position,) = positions_of(trades_of(orders, intents))
    assert position.symbol == "EURUSD" and position.lots == 0.15
    assert abs((position.average_price or 0) - 1.15) < 1e-12 and position.last_price == 1.30
    flipped = positions_of(
        trades_of([*orders[:2], _order("6", "a", -1, 0.5, 1.4, minutes=6)], intents)
    )
    assert flipped[0].lots == -0.3 and flipped[0].average_price == 1.4


def test_a_breaker_is_tripped_until_its_reset_and_refusal_names_it() -> None:
    rows = [
        {"breaker": "daily_loss", "event": "trip", "reason": "lost 3%", "at": T0},
        {"breaker": "order_errors", "event": "trip", "reason": "10027", "at": T0},
        {"breaker": "order_errors", "event": "reset", "reason": "by ops", "at": T0},
        {"breaker": "daily_loss", "event": "baseline", "reason": "", "at": T0},
    ]
    breakers = breakers_of(rows)
    assert [(b.name, b.tripped) for b in breakers] == [
        ("daily_loss", True),
        ("order_errors", False),
    ]
    assert refusal(breakers, "filled") == "breaker tripped: daily_loss"
    assert refusal(breakers[1:], "refused") is not None
    assert refusal(breakers[1:], "filled") is None


def test_role_activity_is_counted_in_windows_ending_at_the_newest_bar() -> None:
    bars = [T0 - timedelta(hours=h) for h in (30, 5, 0.5, 0)]
    rows = [{"bar_time": b, "model_name": "tate-lgbm", "model_version": "3"} for b in bars]
    status = role_status(ACCOUNT, "champion", rows, [T0 - timedelta(minutes=10)], T0)
    assert (status.model, status.version, status.last_bar) == ("tate-lgbm", "3", T0)
    assert (status.decisions_hour, status.decisions_day) == (2, 3)
    assert (status.orders_hour, status.orders_day) == (1, 1)


def test_the_status_screen_shows_refusal_breakers_roles_and_positions() -> None:
    breakers = breakers_of([{"breaker": "drift", "event": "trip", "reason": "PSI 0.4", "at": T0}])
    intents = {"a": _intent("a", "canary")}
    account = AccountStatus(
        ACCOUNT, T0,
        [role_status(ACCOUNT, "canary", [{"bar_time": T0, "model_name": "m", "model_version": "7"}],
                     [], T0)],
        breakers, refusal(breakers, None),
        positions_of(trades_of([_order("1", "a", 1, 0.1, 1.1)], intents)),
    )  # fmt: skip
    text = format_status([account])
    assert "REFUSED (breaker tripped: drift)" in text and "PSI 0.4" in text
    assert "canary" in text and "TRIPPED" in text and "+0.1" in text
    assert "no decisions" in format_status([])
    payload = as_json([account])
    assert payload[0]["breakers"][0]["at"] == T0.isoformat()
    assert payload[0]["roles"][0]["version"] == "7"


def test_tables_print_every_trade_and_say_so_when_empty() -> None:
    found = trades_of([_order("1", "a", -1, 0.1, 1.23456)], {"a": _intent("a", "champion")})
    text = format_trades(found)
    assert "champion" in text and "sell" in text and "1.23456" in text and " 100 " in text
    assert format_trades([]) == "no trades in the journal\n"
    assert format_positions([]) == "no open positions in the journal\n"
