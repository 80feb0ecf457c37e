"""SimTerminal keeps what it works out per bar and per book, and its kept answers are always
the ones it would work out afresh: after fills, faults, placed orders, advances and a
shadow's new view of the market."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.costs import CostModel
from serving.mt5 import constants as mt5
from serving.mt5.types import TradeRequest
from serving.sim.account import Book
from serving.sim.quotes import BarQuotes
from serving.sim.shadow import ShadowTerminal
from serving.sim.terminal import SimTerminal
from serving.sim.valuation import Valuation
from tests.factories import make_replay_bars

H1 = mt5.TIMEFRAME_H1
SYMBOLS = ("EURUSD", "USDJPY", "GBPUSD")


def _bars() -> dict[str, pd.DataFrame]:
    """Three symbols: one with a gap (a closed market for some bars), one that stops early."""
    bars = make_replay_bars(SYMBOLS, n=40, seed=11)
    bars["USDJPY"] = bars["USDJPY"].drop(index=range(14, 18)).reset_index(drop=True)
    bars["GBPUSD"] = bars["GBPUSD"].iloc[:25].reset_index(drop=True)
    return bars


BARS = _bars()


_ASKED = frozenset(
    name for name in dir(SimTerminal) if not name.startswith("_") and name != "inject"
)
"""What a caller asks a terminal (``now`` and the trading calls included)."""


class ForgetfulTerminal(SimTerminal):
    """Works every answer out afresh on every call: before each, everything the terminal
    keeps (quotes, ticks, infos, the slippage table, valued positions and account, a
    checked or parsed request) is dropped. The reference the keeping terminal must match
    answer for answer."""

    def __getattribute__(self, name: str) -> Any:
        if name in _ASKED:
            object.__getattribute__(self, "_forget")()
        return object.__getattribute__(self, name)

    def _forget(self) -> None:
        self._quotes = BarQuotes(self._replay, self.specs, self.currency, self.leverage, self.costs)
        self._valuation = Valuation(self._book, self._quotes, self._account_tuple)
        self._checked = None
        self._parsed = None


def _answers(term: SimTerminal) -> list[Any]:
    """Everything a worker, broker or reconciliation asks, as comparable values."""
    now = term.now
    out: list[Any] = [
        term.account_info(),
        term.positions_get(),
        term.positions_get(group="*JPY"),
        term.positions_total(),
        term.orders_get(),
        term.history_deals_get(now - 6 * 3600, now),
        term.history_orders_get(now - 6 * 3600, now, group="EUR*"),
    ]
    for symbol in SYMBOLS:
        rates = term.copy_rates_from_pos(symbol, H1, 1, 10)
        out += [
            term.positions_get(symbol=symbol),
            term.symbol_info(symbol),
            term.symbol_info_tick(symbol),
            None if rates is None else (rates.dtype, rates.tolist()),
        ]
        check = term.order_check(_request(term, symbol, True, 0.5, 1))
        out.append(None if check is None else check._replace(request=None))
    return out


def _request(term: SimTerminal, symbol: str, buy: bool, volume: float, magic: int) -> dict:
    tick = term.symbol_info_tick(symbol)
    return {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": symbol,
        "volume": volume,
        "type": mt5.ORDER_TYPE_BUY if buy else mt5.ORDER_TYPE_SELL,
        "price": 0.0 if tick is None else (tick.ask if buy else tick.bid),
        "magic": magic,
        "comment": "prop",
        "type_filling": mt5.ORDER_FILLING_IOC,
    }


def _close_request(term: SimTerminal, pick: int) -> dict | None:
    """A hedging close of one open position (chosen by ``pick``), or None when flat."""
    positions = term.positions_get() or ()
    if not positions:
        return None
    pos = positions[pick % len(positions)]
    request = _request(term, pos.symbol, pos.type == mt5.POSITION_TYPE_SELL, pos.volume, pos.magic)
    return {**request, "position": pos.ticket}


OPS = st.one_of(
    st.tuples(
        st.just("send"),
        st.sampled_from(SYMBOLS),
        st.booleans(),
        st.sampled_from([0.01, 0.3, 1.0, 2.5, 40.0]),  # 40 lots: more than the margin allows
        st.sampled_from([1, 2]),
        st.sampled_from([None, None, None, "partial", "none", "requote", "timeout"]),
    ),
    st.tuples(st.just("close"), st.integers(0, 9)),
    st.tuples(st.just("advance")),
    st.tuples(st.just("reconnect")),
)


def _apply(term: SimTerminal, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "advance":
        return term.advance()
    if kind == "reconnect":
        return term.initialize()
    if kind == "close":
        request = _close_request(term, op[1])
        return None if request is None else term.order_send(request)
    _, symbol, buy, volume, magic, fault = op
    if fault is not None:
        term.inject(fault)
    return term.order_send(_request(term, symbol, buy, volume, magic))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    ops=st.lists(OPS, min_size=1, max_size=30),
    mode=st.sampled_from(["netting", "hedging"]),
    latency=st.sampled_from([0, 1]),
)
def test_kept_answers_equal_answers_worked_out_afresh(
    ops: list[tuple[Any, ...]], mode: str, latency: int
) -> None:
    made = [
        cls(BARS, start=12, account_mode=mode, costs=CostModel(latency_bars=latency), balance=20_000.0)  # type: ignore[arg-type]
        for cls in (SimTerminal, ForgetfulTerminal)
    ]  # fmt: skip
    keeping, forgetful = made
    for term in made:
        term.initialize()
    assert _answers(keeping) == _answers(forgetful)
    for op in ops:
        assert _apply(keeping, op) == _apply(forgetful, op)
        # ask twice: the second answer comes from what the first one kept
        assert _answers(keeping) == _answers(keeping) == _answers(forgetful)


def test_a_fill_revalues_the_account_within_the_same_bar() -> None:
    term = SimTerminal(BARS, start=12, account_mode="hedging")
    term.initialize()
    before = term.account_info()
    assert before is not None and term.positions_get() == ()
    term.order_send(_request(term, "EURUSD", True, 1.0, 1))
    after = term.account_info()
    assert after is not None and len(term.positions_get() or ()) == 1
    assert after.margin > 0 and after.balance < before.balance  # commission paid, margin held
    assert after.equity != before.equity


@pytest.mark.parametrize(
    ("mode", "lots"),
    [
        ("netting", (0.3, 0.3, -0.2, -1.0, 0.4)),  # grow, shrink, reverse, reverse back
        ("hedging", (0.3, 0.3, -0.2)),  # open, open, open the other way
    ],
)
def test_each_fill_revalues_the_positions_it_touched_within_the_bar(
    mode: str, lots: tuple[float, ...]
) -> None:
    made = [
        cls(BARS, start=12, account_mode=mode, balance=20_000.0)  # type: ignore[arg-type]
        for cls in (SimTerminal, ForgetfulTerminal)
    ]
    for term in made:
        term.initialize()
        term.positions_get()  # valued before the fills: what a fill must not leave stale
    for volume in lots:
        answers = []
        for term in made:
            sent = term.order_send(_request(term, "EURUSD", volume > 0, abs(volume), 1))
            assert sent is not None and sent.retcode == mt5.TRADE_RETCODE_DONE
            answers.append(
                (term.positions_get(), term.positions_get(symbol="EURUSD"), term.account_info())
            )
        assert answers[0] == answers[1]


def test_the_shadow_quotes_the_live_terminals_new_bar_after_each_advance() -> None:
    live = SimTerminal(make_replay_bars(("EURUSD",), n=120), start=60, account_mode="netting")
    live.initialize()
    shadow = ShadowTerminal(live, ("EURUSD",), "H1", history=50)
    shadow.initialize()
    for _ in range(5):
        assert shadow.symbol_info_tick("EURUSD") == live.symbol_info_tick("EURUSD")
        assert shadow.symbol_info("EURUSD").bid == live.symbol_info("EURUSD").bid
        live.advance()
        shadow.advance()  # a new market view whose cursor sits where the last one did


def test_rates_are_fresh_arrays_a_caller_may_write_into() -> None:
    term = SimTerminal(BARS, start=20)
    term.initialize()
    first = term.copy_rates_from_pos("EURUSD", H1, 0, 5)
    since = term.copy_rates_from("EURUSD", H1, term.now, 5)
    ranged = term.copy_rates_range("EURUSD", H1, term.now - 4 * 3600, term.now)
    kept = first.copy()
    for rates in (first, since, ranged):
        assert rates.flags.writeable and rates.flags.owndata
        rates["close"] = -1.0
    np.testing.assert_array_equal(term.copy_rates_from_pos("EURUSD", H1, 0, 5), kept)
    assert term.symbol_info_tick("EURUSD").bid == kept["open"][-1]


def _deal(book: Book, time: int) -> None:
    request = TradeRequest(**{**dict.fromkeys(TradeRequest._fields, 0), "symbol": "EURUSD",
                              "volume": 0.1, "type": mt5.ORDER_TYPE_BUY, "comment": ""})  # fmt: skip
    book.execute(request, 1.1, time, 0.0, 100_000.0)


def test_history_by_time_finds_deals_booked_in_order_and_out_of_order() -> None:
    in_order, out_of_order = Book(hedging=True, balance=0.0), Book(hedging=True, balance=0.0)
    for time in (100, 200, 200, 300):
        _deal(in_order, time)
    for time in (100, 300, 150, 200):  # a live market view may step back
        _deal(out_of_order, time)
    assert [d.time for d in in_order.deals_between(150, 250)] == [200, 200]
    assert [d.time for d in in_order.deals_between(200, 200)] == [200, 200]
    assert [d.time for d in in_order.deals_between(301, 400)] == []
    assert [d.time for d in out_of_order.deals_between(120, 250)] == [150, 200]
    assert [o.time_done for o in out_of_order.orders_between(120, 250)] == [150, 200]


def test_a_checked_request_is_checked_again_once_a_fill_has_moved_the_account() -> None:
    term = SimTerminal(BARS, start=12, account_mode="hedging", balance=2_000.0)
    term.initialize()
    request = _request(term, "EURUSD", True, 1.0, 1)
    check = term.order_check(request)
    assert check is not None and check.retcode == 0  # one lot's margin fits
    assert term.order_send(request).retcode == mt5.TRADE_RETCODE_DONE
    again = term.order_send(request)  # the same request: a second lot's margin does not fit
    assert again is not None and again.retcode == mt5.TRADE_RETCODE_NO_MONEY


def test_a_request_changed_after_its_check_is_sent_as_changed() -> None:
    term = SimTerminal(BARS, start=12, account_mode="hedging")
    term.initialize()
    request = _request(term, "EURUSD", True, 1.0, 1)
    assert term.order_check(request).request.volume == 1.0
    request["volume"], request["comment"] = 0.5, "changed"  # the same dict, edited in place
    sent = term.order_send(request)
    assert sent is not None and sent.retcode == mt5.TRADE_RETCODE_DONE
    assert (sent.volume, sent.request.volume, sent.request.comment) == (0.5, 0.5, "changed")
    assert term.positions_get()[0].volume == 0.5


@pytest.mark.parametrize("mode", ["netting", "hedging"])
def test_order_check_reports_the_money_account_info_reports(mode: str) -> None:
    term = SimTerminal(BARS, start=12, account_mode=mode, balance=20_000.0)  # type: ignore[arg-type]
    term.initialize()
    for volume, symbol in ((0.3, "EURUSD"), (-0.7, "USDJPY"), (0.2, "GBPUSD"), (-0.1, "EURUSD")):
        term.order_send(_request(term, symbol, volume > 0, abs(volume), 1))
        term.advance()
        account = term.account_info()
        check = term.order_check(_request(term, "EURUSD", True, 0.0, 1))  # asks no margin
        assert account is not None and account.margin > 0 and check is not None
        assert (check.balance, check.equity, check.profit, check.margin) == (
            account.balance,
            account.equity,
            account.profit,
            account.margin,
        )
