"""SimTerminal keeps the MetaTrader5 module's shapes and the facts of a live terminal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from data_contracts.symbols import SYMBOL_SPECS
from models.costs import CostModel
from serving.mt5 import constants as mt5
from serving.mt5.types import RATES_DTYPE, TradeDeal, TradePosition
from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars

H1 = mt5.TIMEFRAME_H1


def _terminal(mode: str = "netting", start: int = 20, **kwargs: object) -> SimTerminal:
    term = SimTerminal(
        make_replay_bars(("EURUSD", "USDJPY"), n=60), account_mode=mode, start=start, **kwargs
    )  # type: ignore[arg-type]
    term.initialize()
    return term


def _order(term: SimTerminal, symbol: str, volume: float, buy: bool, **extra: object) -> dict:
    tick = term.symbol_info_tick(symbol)
    return {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": symbol,
        "volume": volume,
        "type": mt5.ORDER_TYPE_BUY if buy else mt5.ORDER_TYPE_SELL,
        "price": tick.ask if buy else tick.bid,
        "deviation": 10,
        "magic": 77,
        "comment": "test",
        "type_filling": mt5.ORDER_FILLING_FOK,
        **extra,
    }


def test_position_zero_is_the_forming_bar_showing_only_its_open() -> None:
    term = _terminal()
    rates = term.copy_rates_from_pos("EURUSD", H1, 0, 3)
    assert rates.dtype == RATES_DTYPE
    forming = rates[-1]
    assert forming["time"] == term.now
    assert forming["open"] == forming["high"] == forming["low"] == forming["close"]
    closed = term.copy_rates_from_pos("EURUSD", H1, 1, 2)
    assert closed["time"][-1] < term.now and np.array_equal(closed, rates[:2])


def test_closed_bars_never_change_after_advance() -> None:
    term = _terminal()
    before = term.copy_rates_from_pos("EURUSD", H1, 1, 5)
    term.advance()
    after = term.copy_rates_from_pos("EURUSD", H1, 2, 5)
    assert np.array_equal(before, after)


def test_copy_rates_range_stops_at_now_and_rejects_other_timeframes() -> None:
    term = _terminal()
    rates = term.copy_rates_range("EURUSD", H1, 0, 2**40)
    assert len(rates) == 21 and rates["time"][-1] == term.now
    assert term.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 1, 5) is None
    assert term.last_error()[0] == mt5.RES_E_INVALID_PARAMS


def test_buy_pays_ask_sell_gets_bid_and_commission_is_charged_per_side() -> None:
    term = _terminal(costs=CostModel(commission_per_lot=3.5))
    tick = term.symbol_info_tick("EURUSD")
    spread = term.copy_rates_from_pos("EURUSD", H1, 0, 1)["spread"][0]
    assert tick.ask == pytest.approx(tick.bid + spread * 1e-5)
    buy = term.order_send(_order(term, "EURUSD", 0.5, buy=True))
    sell = term.order_send(_order(term, "EURUSD", 0.5, buy=False))
    assert (buy.retcode, buy.price, sell.price) == (mt5.TRADE_RETCODE_DONE, tick.ask, tick.bid)
    deals = term.history_deals_get(0, 2**40)
    assert [d.commission for d in deals] == [-1.75, -1.75]
    round_trip = (tick.bid - tick.ask) * 0.5 * 100_000
    assert deals[1].profit == pytest.approx(round_trip, abs=0.01)
    assert term.account_info().balance == pytest.approx(10_000 + round_trip - 3.5, abs=0.01)


def test_netting_account_reverses_one_position_in_place() -> None:
    term = _terminal("netting")
    term.order_send(_order(term, "EURUSD", 0.3, buy=True))
    term.order_send(_order(term, "EURUSD", 0.5, buy=False))
    (pos,) = term.positions_get(symbol="EURUSD")
    assert isinstance(pos, TradePosition)
    assert (pos.type, pos.volume) == (mt5.POSITION_TYPE_SELL, 0.2)
    assert [d.entry for d in term.history_deals_get(position=pos.identifier)] == [
        mt5.DEAL_ENTRY_IN,
        mt5.DEAL_ENTRY_INOUT,
    ]


def test_hedging_account_keeps_positions_apart_and_closes_by_ticket() -> None:
    term = _terminal("hedging")
    first = term.order_send(_order(term, "EURUSD", 0.3, buy=True))
    term.order_send(_order(term, "EURUSD", 0.1, buy=False))
    assert len(term.positions_get(symbol="EURUSD")) == 2
    close = term.order_send(_order(term, "EURUSD", 0.3, buy=False, position=first.order))
    assert close.retcode == mt5.TRADE_RETCODE_DONE
    (left,) = term.positions_get(symbol="EURUSD")
    assert left.type == mt5.POSITION_TYPE_SELL
    too_much = term.order_send(_order(term, "EURUSD", 0.2, buy=True, position=left.ticket))
    assert too_much.retcode == mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME
    gone = term.order_send(_order(term, "EURUSD", 0.1, buy=False, position=first.order))
    assert gone.retcode == mt5.TRADE_RETCODE_POSITION_CLOSED
    assert term.account_info().margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


def test_none_fault_places_the_order_then_returns_none() -> None:
    term = _terminal()
    term.inject("none")
    assert term.order_send(_order(term, "EURUSD", 0.1, buy=True)) is None
    assert term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_TIMEOUT
    (deal,) = term.history_deals_get(0, 2**40, group="EUR*")
    assert (deal.magic, deal.comment, deal.volume) == (77, "test", 0.1)
    assert isinstance(deal, TradeDeal)


@pytest.mark.parametrize(
    ("fault", "retcode"),
    [("requote", mt5.TRADE_RETCODE_REQUOTE), ("no_connection", mt5.TRADE_RETCODE_CONNECTION),
     (mt5.TRADE_RETCODE_CLIENT_DISABLES_AT, mt5.TRADE_RETCODE_CLIENT_DISABLES_AT)],
)  # fmt: skip
def test_answering_faults_place_nothing(fault: object, retcode: int) -> None:
    term = _terminal()
    term.inject(fault)  # type: ignore[arg-type]
    assert term.order_send(_order(term, "EURUSD", 0.1, buy=True)).retcode == retcode
    assert term.positions_get() == () and term.history_deals_get(0, 2**40) == ()


def test_order_check_rejects_bad_volume_unsupported_filling_and_closed_market() -> None:
    ioc_only = replace(SYMBOL_SPECS["EURUSD"], filling_mode=mt5.SYMBOL_FILLING_IOC)
    bars = make_replay_bars(("EURUSD", "USDJPY"), n=60)
    bars["USDJPY"] = bars["USDJPY"].iloc[:10]  # delisted before the replay's start
    term = SimTerminal(bars, specs={**SYMBOL_SPECS, "EURUSD": ioc_only}, start=20)
    term.initialize()
    assert (
        term.order_check(_order(term, "EURUSD", 0.015, buy=True)).retcode
        == mt5.TRADE_RETCODE_INVALID_VOLUME
    )
    assert (
        term.order_check(_order(term, "EURUSD", 0.1, buy=True)).retcode
        == mt5.TRADE_RETCODE_INVALID_FILL
    )
    ok = _order(term, "EURUSD", 0.1, buy=True, type_filling=mt5.ORDER_FILLING_IOC)
    assert term.order_check(ok).retcode == 0
    closed = _order(term, "USDJPY", 0.1, buy=True)
    assert term.order_check(closed).retcode == mt5.TRADE_RETCODE_MARKET_CLOSED


def test_each_terminal_reports_its_own_spec_of_a_symbol_in_symbol_info() -> None:
    bars = make_replay_bars(("EURUSD",), n=60)
    ioc_only = replace(SYMBOL_SPECS["EURUSD"], filling_mode=mt5.SYMBOL_FILLING_IOC, digits=4)
    stock, own = (
        SimTerminal(bars, specs=specs, start=20) for specs in (None, {"EURUSD": ioc_only})
    )
    for _ in range(2):  # asked in turn: neither keeps the other's spec
        for term, spec in ((stock, SYMBOL_SPECS["EURUSD"]), (own, ioc_only)):
            term.initialize()
            info = term.symbol_info("EURUSD")
            assert (info.filling_mode, info.digits) == (spec.filling_mode, spec.digits)
            term.advance()


def test_usd_based_symbol_reports_tick_value_from_the_price() -> None:
    term = _terminal()
    info = term.symbol_info("USDJPY")
    assert (info.digits, info.point, info.trade_contract_size) == (3, 0.001, 100_000.0)
    assert info.trade_tick_value == pytest.approx(100.0 / info.bid)
    assert info.filling_mode == mt5.SYMBOL_FILLING_FOK | mt5.SYMBOL_FILLING_IOC
    assert info.trade_mode == mt5.SYMBOL_TRADE_MODE_FULL


def test_calls_before_initialize_fail_like_the_module() -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=10))
    assert term.account_info() is None and term.symbol_info_tick("EURUSD") is None
    assert term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT
    term.initialize()
    term.shutdown()
    assert term.positions_get() is None


def test_advance_returns_false_at_the_end_of_the_replay() -> None:
    term = _terminal(start=58)
    assert term.advance() is True
    assert term.advance() is False


def test_fills_slip_by_fixed_points_plus_a_share_of_the_last_closed_bars_range() -> None:
    costs = CostModel(
        commission_per_lot=0.0, slippage_fixed_points=1.0, slippage_range_fraction=0.1
    )
    term = _terminal(costs=costs)
    closed = term.copy_rates_from_pos("EURUSD", H1, 1, 1)[0]
    slip = np.ceil(1.0 + 0.1 * round((closed["high"] - closed["low"]) / 1e-5) - 1e-9)
    tick = term.symbol_info_tick("EURUSD")
    buy = term.order_send(_order(term, "EURUSD", 0.1, buy=True))
    sell = term.order_send(_order(term, "EURUSD", 0.1, buy=False))
    assert slip >= 2
    assert buy.price == pytest.approx(tick.ask + slip * 1e-5, abs=1e-9)
    assert sell.price == pytest.approx(tick.bid - slip * 1e-5, abs=1e-9)


def test_with_latency_an_order_is_placed_then_filled_at_the_open_bars_later() -> None:
    term = _terminal(costs=CostModel(commission_per_lot=3.5, latency_bars=2))
    sent = term.order_send(_order(term, "EURUSD", 0.2, buy=True))
    assert sent.retcode == mt5.TRADE_RETCODE_PLACED and sent.order > 0 and sent.deal == 0
    (pending,) = term.orders_get(symbol="EURUSD")
    assert (pending.ticket, pending.state, pending.magic, pending.volume_current) == (
        sent.order, mt5.ORDER_STATE_PLACED, 77, 0.2,
    )  # fmt: skip
    assert term.orders_total() == 1 and term.orders_get(symbol="USDJPY") == ()
    placed_at = term.now
    term.advance()
    assert term.positions_get() == () and term.history_deals_get(0, 2**40) == ()
    term.advance()
    (deal,) = term.history_deals_get(ticket=sent.order)
    open_ask = term.symbol_info_tick("EURUSD").ask  # the forming bar's open, its own spread
    assert (deal.time, deal.price, deal.volume) == (term.now, open_ask, 0.2)
    assert deal.commission == pytest.approx(-0.7)
    assert term.orders_get() == () and len(term.positions_get(symbol="EURUSD")) == 1
    (order,) = term.history_orders_get(ticket=sent.order)
    assert (order.time_setup, order.time_done, order.state) == (
        placed_at, term.now, mt5.ORDER_STATE_FILLED,
    )  # fmt: skip


def test_a_lost_reply_under_latency_still_leaves_the_order_pending() -> None:
    term = _terminal(costs=CostModel(latency_bars=1))
    term.inject("none")
    assert term.order_send(_order(term, "EURUSD", 0.1, buy=True)) is None
    (pending,) = term.orders_get()
    assert pending.comment == "test" and term.history_deals_get(0, 2**40) == ()


def test_a_delayed_order_the_server_refuses_at_fill_time_is_rejected_without_a_deal() -> None:
    term = _terminal("hedging", costs=CostModel(latency_bars=1))
    opened = term.order_send(_order(term, "EURUSD", 0.3, buy=True))
    term.advance()
    (pos,) = term.positions_get()
    first = term.order_send(_order(term, "EURUSD", 0.3, buy=False, position=pos.ticket))
    second = term.order_send(_order(term, "EURUSD", 0.3, buy=False, position=pos.ticket))
    assert [o.position_id for o in term.orders_get()] == [pos.ticket, pos.ticket]
    term.advance()
    assert term.positions_get() == () and term.orders_get() == ()
    states = {o.ticket: o.state for o in term.history_orders_get(0, 2**40)}
    assert states == {
        opened.order: mt5.ORDER_STATE_FILLED,
        first.order: mt5.ORDER_STATE_FILLED,
        second.order: mt5.ORDER_STATE_REJECTED,
    }
    assert len(term.history_deals_get(0, 2**40)) == 2


def test_a_timeout_answers_none_and_places_nothing() -> None:
    term = _terminal()
    term.inject("timeout")
    assert term.order_send(_order(term, "EURUSD", 0.1, buy=True)) is None
    assert term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_TIMEOUT
    assert term.history_deals_get(0, 2**40) == () and term.orders_get() == ()


@pytest.mark.parametrize(("fault", "placed"), [("disconnect", False), ("disconnect_placed", True)])
def test_a_disconnect_fails_every_call_until_initialize(fault: str, placed: bool) -> None:
    term = _terminal()
    term.inject(fault)  # type: ignore[arg-type]
    assert term.order_send(_order(term, "EURUSD", 0.1, buy=True)) is None
    assert term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT
    assert term.positions_get() is None and term.history_deals_get(0, 2**40) is None
    assert term.symbol_info_tick("EURUSD") is None and term.order_check({}) is None
    assert term.initialize()
    assert len(term.history_deals_get(0, 2**40)) == int(placed)
    term.disconnect()
    assert term.account_info() is None and term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT


ANSWERS = {
    "symbol_info": lambda t: t.symbol_info("EURUSD"),
    "symbol_info_tick": lambda t: t.symbol_info_tick("EURUSD"),
    "positions_get": lambda t: t.positions_get(),
    "positions_get(symbol)": lambda t: t.positions_get(symbol="EURUSD"),
    "orders_get": lambda t: t.orders_get(symbol="EURUSD"),
    "copy_rates_from_pos": lambda t: t.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_H1, 1, 5),
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_an_answer_clears_the_last_error_and_none_comes_without_the_terminal(name: str) -> None:
    ask = ANSWERS[name]
    term = _terminal()
    term.inject("timeout")
    assert term.order_send(_order(term, "EURUSD", 0.1, buy=True)) is None
    assert term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_TIMEOUT
    assert ask(term) is not None and term.last_error() == (mt5.RES_S_OK, "Success")
    term.disconnect()
    assert ask(term) is None and term.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT


def test_a_partial_fill_deals_half_on_the_step_and_cancels_the_rest() -> None:
    term = _terminal(costs=CostModel(commission_per_lot=3.5, latency_bars=1))
    term.inject("partial")
    sent = term.order_send(_order(term, "EURUSD", 0.35, buy=True))
    assert (sent.retcode, sent.volume) == (mt5.TRADE_RETCODE_DONE_PARTIAL, 0.17)
    (deal,) = term.history_deals_get(ticket=sent.order)
    assert (deal.volume, deal.commission) == (0.17, pytest.approx(-0.595))
    (order,) = term.history_orders_get(ticket=sent.order)
    assert (order.state, order.volume_initial, order.volume_current) == (
        mt5.ORDER_STATE_PARTIAL, 0.35, 0.18,
    )  # fmt: skip
    assert term.orders_get() == () and term.positions_get()[0].volume == 0.17


def test_a_broker_that_rewrites_comments_stores_the_rewritten_one() -> None:
    term = _terminal(comment_rewrite=lambda c: f"[{c[:3]}]")
    sent = term.order_send(_order(term, "EURUSD", 0.1, buy=True))
    assert sent.request.comment == "test"
    (deal,) = term.history_deals_get(0, 2**40)
    assert deal.comment == "[tes]" and term.positions_get()[0].comment == "[tes]"
