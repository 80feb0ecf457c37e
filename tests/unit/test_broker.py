"""Mt5Broker translates every answer once and never doubles an order it cannot see."""

from __future__ import annotations

from dataclasses import replace

import pytest

from serving import mt5_constants as mt5
from serving.broker import (
    RETCODE_OUTCOMES,
    Mt5Broker,
    Outcome,
    choose_filling,
    outcome_of,
    round_volume,
)
from serving.fakes import make_bars
from serving.sim_terminal import SimTerminal
from serving.symbols import SYMBOL_SPECS

MAGIC = 4200


def _setup(mode: str = "netting", **specs: object) -> tuple[SimTerminal, Mt5Broker]:
    term = SimTerminal(
        make_bars(("EURUSD", "USDJPY"), n=40), account_mode=mode, start=10,  # type: ignore[arg-type]
        specs={**SYMBOL_SPECS, **specs},  # type: ignore[dict-item]
    )  # fmt: skip
    term.initialize()
    return term, Mt5Broker(term, magic=MAGIC, deviation=20)


def _deals(term: SimTerminal) -> tuple:
    return term.history_deals_get(0, 2**40)


def test_retcode_table_covers_every_trade_retcode_constant() -> None:
    codes = mt5.trade_retcodes()
    assert len(codes) == 40
    missing = {name: code for name, code in codes.items() if code not in RETCODE_OUTCOMES}
    assert missing == {}
    assert set(RETCODE_OUTCOMES) == set(codes.values())


def test_no_answer_is_unknown_and_the_design_examples_hold() -> None:
    assert outcome_of(None) is Outcome.UNKNOWN
    assert outcome_of(mt5.TRADE_RETCODE_DONE) is Outcome.FILLED
    assert outcome_of(mt5.TRADE_RETCODE_PLACED) is Outcome.PENDING
    assert outcome_of(mt5.TRADE_RETCODE_PRICE_OFF) is Outcome.REQUOTE
    assert outcome_of(mt5.TRADE_RETCODE_LOCKED) is Outcome.THROTTLED
    assert outcome_of(mt5.TRADE_RETCODE_CONNECTION) is Outcome.UNKNOWN
    assert outcome_of(mt5.TRADE_RETCODE_CLIENT_DISABLES_AT) is Outcome.OPERATIONAL
    assert outcome_of(99999) is Outcome.REJECTED


@pytest.mark.parametrize("mode", ["netting", "hedging"])
def test_order_send_none_after_placing_gives_exactly_one_deal(mode: str) -> None:
    term, broker = _setup(mode)
    term.inject("none")
    (event,) = broker.rebalance("EURUSD", 0.4, intent_id="intent-a")
    assert (event.outcome, event.reconciled, event.state) == (
        Outcome.FILLED,
        True,
        "filled_reconciled",
    )
    (deal,) = _deals(term)
    assert (deal.volume, deal.magic, deal.order) == (0.4, MAGIC, event.ticket)
    assert broker.net_position("EURUSD") == 0.4
    assert broker.rebalance("EURUSD", 0.4, intent_id="intent-a") == []


def test_unknown_without_a_trace_is_resent_once() -> None:
    term, broker = _setup()
    term.inject("no_connection")
    (event,) = broker.rebalance("EURUSD", 0.2, intent_id="b")
    assert (event.outcome, event.attempts, event.reconciled) == (Outcome.FILLED, 2, False)
    assert len(_deals(term)) == 1


def test_unknown_twice_gives_up_without_a_second_resend() -> None:
    term, broker = _setup()
    term.inject("no_connection", "no_connection", "no_connection")
    (event,) = broker.rebalance("EURUSD", 0.2, intent_id="c")
    assert (event.outcome, event.retcode, event.attempts) == (
        Outcome.UNKNOWN,
        mt5.TRADE_RETCODE_CONNECTION,
        2,
    )
    assert _deals(term) == ()


def test_requotes_are_retried_a_bounded_number_of_times() -> None:
    term, broker = _setup()
    term.inject("requote", "requote")
    (event,) = broker.rebalance("EURUSD", 0.1, intent_id="d")
    assert (event.outcome, event.attempts) == (Outcome.FILLED, 3)
    term.inject(*["requote"] * 10)
    (event,) = broker.rebalance("EURUSD", 0.3, intent_id="e")
    assert (event.outcome, event.attempts) == (Outcome.REQUOTE, broker.max_requotes + 1)
    assert broker.net_position("EURUSD") == 0.1


def test_operational_retcode_is_reported_not_retried() -> None:
    term, broker = _setup()
    term.inject(mt5.TRADE_RETCODE_CLIENT_DISABLES_AT)
    (event,) = broker.rebalance("EURUSD", 0.1, intent_id="f")
    assert (event.outcome, event.attempts) == (Outcome.OPERATIONAL, 1)


def test_every_order_carries_magic_and_a_short_intent_comment() -> None:
    term, broker = _setup("hedging")
    long_intent = "0123456789abcdef0123456789abcdef0123456789"
    broker.rebalance("EURUSD", 0.3, intent_id=long_intent)
    broker.rebalance("EURUSD", -0.2, intent_id=long_intent[::-1])
    for deal in _deals(term):
        assert deal.magic == MAGIC and 0 < len(deal.comment) <= 31
    assert len({d.comment for d in _deals(term)}) == 3


def test_hedging_reversal_closes_the_long_then_opens_the_short() -> None:
    term, broker = _setup("hedging")
    broker.rebalance("EURUSD", 0.3, intent_id="g")
    close, open_ = broker.rebalance("EURUSD", -0.2, intent_id="h")
    assert close.request["position"] > 0 and close.volume == 0.3
    assert "position" not in open_.request and open_.volume == 0.2
    (pos,) = term.positions_get(symbol="EURUSD")
    assert (pos.type, pos.volume) == (mt5.POSITION_TYPE_SELL, 0.2)


def test_positions_of_other_magics_are_left_alone() -> None:
    _term, broker = _setup("hedging")
    other = broker.for_magic(MAGIC + 1)
    other.rebalance("EURUSD", 0.5, intent_id="i")
    broker.rebalance("EURUSD", -0.1, intent_id="j")
    assert other.net_position("EURUSD") == 0.5 and broker.net_position("EURUSD") == -0.1


def test_filling_mode_follows_the_symbol_bitmask() -> None:
    assert choose_filling(mt5.SYMBOL_FILLING_FOK | mt5.SYMBOL_FILLING_IOC) == mt5.ORDER_FILLING_FOK
    assert choose_filling(mt5.SYMBOL_FILLING_IOC) == mt5.ORDER_FILLING_IOC
    assert choose_filling(0) == mt5.ORDER_FILLING_RETURN
    _term, broker = _setup(
        EURUSD=replace(SYMBOL_SPECS["EURUSD"], filling_mode=mt5.SYMBOL_FILLING_IOC)
    )
    (event,) = broker.rebalance("EURUSD", 0.1, intent_id="k")
    assert event.outcome is Outcome.FILLED
    assert event.request["type_filling"] == mt5.ORDER_FILLING_IOC


def test_volume_is_rounded_to_the_step_and_clamped() -> None:
    assert round_volume(0.1234, 0.01, 0.01, 100.0) == 0.12
    assert round_volume(-0.004, 0.01, 0.01, 100.0) == 0.0
    assert round_volume(-250.0, 0.01, 0.01, 100.0) == -100.0
    _term, broker = _setup()
    (event,) = broker.rebalance("EURUSD", 0.1234, intent_id="l")
    assert event.volume == 0.12


def test_order_check_rejection_is_not_sent() -> None:
    term, broker = _setup(
        EURUSD=replace(SYMBOL_SPECS["EURUSD"], trade_mode=mt5.SYMBOL_TRADE_MODE_DISABLED)
    )
    (event,) = broker.rebalance("EURUSD", 0.1, intent_id="m")
    assert (event.outcome, event.retcode) == (Outcome.REJECTED, mt5.TRADE_RETCODE_TRADE_DISABLED)
    assert event.latency_seconds == 0.0 and _deals(term) == ()
