"""Each role's lots and PnL come from the terminal's positions and deals, told apart by magic."""

from __future__ import annotations

from datetime import UTC, datetime

from serving.execution.broker import Mt5Broker
from serving.mt5 import constants as mt5
from serving.mt5.types import TradeDeal, TradePosition
from serving.risk.positions import read_book, summarize_book
from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars

ROLES = {100: "champion", 101: "canary"}


def _position(magic: int, symbol: str, buy: bool, volume: float, profit: float) -> TradePosition:
    kind = mt5.POSITION_TYPE_BUY if buy else mt5.POSITION_TYPE_SELL
    return TradePosition(
        1, 0, 0, 0, 0, kind, magic, 1, 0, volume, 1.1, 0.0, 0.0, 1.1, -0.5, profit, symbol, "", ""
    )


def _deal(magic: int, profit: float, commission: float) -> TradeDeal:
    return TradeDeal(
        1, 1, 0, 0, 0, 0, magic, 1, 0, 0.1, 1.1, commission, 0.0, profit, 0.0, "EURUSD", "", ""
    )


def test_books_are_split_by_magic_with_signed_lots_and_costs_counted() -> None:
    books = summarize_book(
        [
            _position(100, "EURUSD", True, 0.3, 10.0),
            _position(100, "EURUSD", False, 0.1, -2.0),  # hedging: both sides at once
            _position(101, "USDJPY", False, 0.02, 1.0),
            _position(999, "EURUSD", True, 5.0, 1e6),  # someone else's magic
        ],
        [_deal(100, 0.0, -3.5), _deal(100, 20.0, -3.5), _deal(999, -1e6, 0.0)],
        ROLES,
    )
    assert books["champion"].volumes == {"EURUSD": 0.2}
    assert books["champion"].floating == 10.0 - 2.0 - 1.0  # profit + swap
    assert books["champion"].realised == 13.0
    assert books["canary"].volumes == {"USDJPY": -0.02} and books["canary"].realised == 0.0


def test_read_book_agrees_with_the_sim_terminal_and_is_none_when_offline() -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=20), account_mode="hedging", start=10)
    term.initialize()
    Mt5Broker(term, magic=100).rebalance("EURUSD", 0.5, intent_id="a")
    Mt5Broker(term, magic=101).rebalance("EURUSD", -0.05, intent_id="b")
    term.advance()
    since = datetime(2024, 1, 1, tzinfo=UTC)
    books = read_book(term, ROLES, since, term.current_time)
    assert books is not None
    assert books["champion"].volumes == {"EURUSD": 0.5} and books["canary"].volumes == {
        "EURUSD": -0.05
    }
    assert books["champion"].realised < 0  # the entry commission
    term.shutdown()
    assert read_book(term, ROLES, since, term.current_time) is None
