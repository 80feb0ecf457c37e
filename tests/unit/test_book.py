"""Each role's lots and PnL come from the terminal's positions and deals, told apart by magic."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any, cast

from serving.execution.broker import Mt5Broker
from serving.mt5 import constants as mt5
from serving.mt5.terminal import Terminal
from serving.mt5.types import TradeDeal, TradePosition
from serving.risk.positions import BookReader, read_book, summarize_book
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


class _Answers:
    """A terminal that answers ``positions_get`` and ``history_deals_get`` from a script."""

    def __init__(self) -> None:
        self.positions: tuple[TradePosition, ...] = ()
        self.deals: tuple[TradeDeal, ...] | None = ()

    def positions_get(self) -> tuple[TradePosition, ...]:
        return self.positions

    def history_deals_get(self, _since: datetime, _until: datetime) -> Any:
        return self.deals


def _ticketed(ticket: int, magic: int, profit: float, commission: float) -> TradeDeal:
    return _deal(magic, profit, commission)._replace(ticket=ticket, fee=-0.01 * ticket)


def test_book_reader_tallies_new_deals_to_the_floats_a_fresh_sum_gives() -> None:
    """Deals growing, reordered, dropped (a new day's window) and roles changed: every answer
    reads bit for bit what ``summarize_book`` makes of it whole."""
    rng = random.Random(7)
    history = [
        _ticketed(t, rng.choice((100, 101, 999)), rng.uniform(-50, 50), -rng.random() / 3)
        for t in range(1, 60)
    ]
    answers: list[tuple[TradeDeal, ...]] = [tuple(history[:n]) for n in (0, 1, 1, 5, 9, 30)]
    answers += [tuple(history[:29]), tuple(history[:31])]  # a counted deal gone, then back
    answers += [(*history[:10], *history[11:33], history[10])]  # same deals, another order
    answers += [tuple(history[40:45]), tuple(history[40:59])]  # a new day's window
    term, reader = _Answers(), BookReader()
    since = datetime(2024, 1, 1, tzinfo=UTC)
    for roles in (ROLES, ROLES, {100: "champion", 999: "canary"}):
        for deals in answers:
            term.deals = deals
            books = reader.read(cast(Terminal, term), roles, since, since)
            expected = summarize_book((), deals, roles)
            assert books is not None
            assert {r: b.realised for r, b in books.items()} == {
                r: b.realised for r, b in expected.items()
            }
    term.deals = None
    assert reader.read(cast(Terminal, term), ROLES, since, since) is None
