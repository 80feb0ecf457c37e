"""Mt5Broker translates every answer once and never doubles an order it cannot see."""

from __future__ import annotations

from dataclasses import replace

import pytest

from data_contracts.symbols import SYMBOL_SPECS
from models.costs import CostModel
from serving.execution.broker import Mt5Broker
from serving.execution.events import choose_filling, round_volume
from serving.execution.outcomes import NO_ANSWER_OUTCOMES, RETCODE_OUTCOMES, Outcome, outcome_of
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars

MAGIC = 4200


def _setup(mode: str = "netting", **specs: object) -> tuple[SimTerminal, Mt5Broker]:
    term = SimTerminal(
        make_replay_bars(("EURUSD", "USDJPY"), n=40), account_mode=mode, start=10,  # type: ignore[arg-type]
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


def _delayed(mode: str, latency: int) -> tuple[SimTerminal, Mt5Broker]:
    term = SimTerminal(
        make_replay_bars(("EURUSD", "USDJPY"), n=40), account_mode=mode, start=10,  # type: ignore[arg-type]
        costs=CostModel(latency_bars=latency),
    )  # fmt: skip
    term.initialize()
    return term, Mt5Broker(term, magic=MAGIC)


def test_a_placed_order_counts_as_held_so_a_repeated_target_sends_nothing() -> None:
    term, broker = _delayed("netting", latency=2)
    (placed,) = broker.rebalance("EURUSD", 0.4, intent_id="n")
    assert (placed.outcome, placed.retcode) == (Outcome.PENDING, mt5.TRADE_RETCODE_PLACED)
    assert placed.ticket > 0 and broker.pending_volume("EURUSD") == 0.4
    assert broker.rebalance("EURUSD", 0.4, intent_id="o") == []
    term.advance()
    (change,) = broker.rebalance("EURUSD", -0.2, intent_id="p")  # only the difference
    assert change.request["type"] == mt5.ORDER_TYPE_SELL and change.request["volume"] == 0.6
    term.advance()
    assert broker.net_position("EURUSD") == 0.4 and broker.pending_volume("EURUSD") == -0.6
    term.advance()
    assert broker.net_position("EURUSD") == -0.2 and broker.pending_volume("EURUSD") == 0.0
    assert [d.volume for d in _deals(term)] == [0.4, 0.6]


def test_hedging_does_not_close_a_position_twice_while_its_close_is_pending() -> None:
    term, broker = _delayed("hedging", latency=1)
    broker.rebalance("EURUSD", 0.3, intent_id="q")
    term.advance()
    close, open_ = broker.rebalance("EURUSD", -0.2, intent_id="r")
    assert close.outcome is Outcome.PENDING and close.request["position"] > 0
    assert "position" not in open_.request and open_.request["volume"] == 0.2
    assert broker.rebalance("EURUSD", -0.2, intent_id="s") == []
    (more,) = broker.rebalance("EURUSD", -0.5, intent_id="t")  # the long is already closing
    assert "position" not in more.request and more.request["volume"] == 0.3
    term.advance()
    positions = term.positions_get(symbol="EURUSD")
    assert {p.type for p in positions} == {mt5.POSITION_TYPE_SELL}
    assert broker.net_position("EURUSD") == -0.5 and term.orders_get() == ()


def test_pending_orders_of_other_magics_are_not_counted() -> None:
    _term, broker = _delayed("hedging", latency=1)
    broker.for_magic(MAGIC + 1).rebalance("EURUSD", 0.5, intent_id="u")
    assert broker.pending_volume("EURUSD") == 0.0
    (event,) = broker.rebalance("EURUSD", 0.5, intent_id="v")
    assert event.outcome is Outcome.PENDING and event.request["volume"] == 0.5


class RecordingSleep:
    """Records every wait instead of sleeping (STYLE: fakes that record calls)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _quiet(term: SimTerminal, **kwargs: object) -> tuple[Mt5Broker, RecordingSleep]:
    sleep = RecordingSleep()
    return Mt5Broker(term, magic=MAGIC, sleep=sleep, **kwargs), sleep  # type: ignore[arg-type]


def test_no_answer_goes_by_last_error_and_every_res_code_is_listed() -> None:
    codes = {name: code for name, code in vars(mt5).items() if name.startswith("RES_")}
    assert set(NO_ANSWER_OUTCOMES) == set(codes.values()) and len(codes) == 15
    assert outcome_of(None, mt5.RES_E_INTERNAL_FAIL_TIMEOUT) is Outcome.UNKNOWN
    assert outcome_of(None, mt5.RES_E_INTERNAL_FAIL_CONNECT) is Outcome.UNKNOWN
    assert outcome_of(None, mt5.RES_E_AUTH_FAILED) is Outcome.OPERATIONAL
    assert outcome_of(None, mt5.RES_E_AUTO_TRADING_DISABLED) is Outcome.OPERATIONAL
    assert outcome_of(None, mt5.RES_E_INVALID_PARAMS) is Outcome.REJECTED
    assert outcome_of(None, -12345) is Outcome.UNKNOWN


def test_throttled_orders_back_off_exponentially_then_give_up_without_sleeping() -> None:
    term, _ = _setup()
    broker, sleep = _quiet(term, backoff_seconds=0.5, backoff_max_seconds=1.5)
    term.inject(mt5.TRADE_RETCODE_TOO_MANY_REQUESTS, mt5.TRADE_RETCODE_LOCKED)
    (event,) = broker.rebalance("EURUSD", 0.1, intent_id="w")
    assert (event.outcome, event.attempts, sleep.waits) == (Outcome.FILLED, 3, [0.5, 1.0])
    term.inject(*[mt5.TRADE_RETCODE_TOO_MANY_REQUESTS] * 10)
    (event,) = broker.rebalance("EURUSD", 0.3, intent_id="x")
    assert (event.outcome, event.attempts) == (Outcome.THROTTLED, broker.max_throttled + 1)
    assert sleep.waits[2:] == [0.5, 1.0, 1.5]
    assert len(_deals(term)) == 1


def test_a_requote_storm_is_bounded_and_places_nothing() -> None:
    term, _ = _setup()
    broker, sleep = _quiet(term, max_requotes=5)
    term.inject(*["requote"] * 50)
    (event,) = broker.rebalance("EURUSD", 0.2, intent_id="y")
    assert (event.outcome, event.attempts, event.state) == (Outcome.REQUOTE, 6, "requote")
    assert _deals(term) == () and term.orders_get() == () and sleep.waits == []


def test_a_timeout_that_placed_nothing_is_proven_absent_then_resent_once() -> None:
    term, _ = _setup()
    broker, sleep = _quiet(term, settle_seconds=2.0)
    term.inject("timeout")
    (event,) = broker.rebalance("EURUSD", 0.2, intent_id="z")
    assert (event.outcome, event.attempts, event.reconciled) == (Outcome.FILLED, 2, False)
    assert sleep.waits == [2.0]  # settled before looking
    (deal,) = _deals(term)
    assert deal.comment == event.comment


def test_unknown_twice_is_recorded_absent_and_not_sent_a_third_time() -> None:
    term, _ = _setup()
    broker, _sleep = _quiet(term)
    term.inject("timeout", "timeout", "timeout")
    (event,) = broker.rebalance("EURUSD", 0.2, intent_id="aa")
    assert (event.outcome, event.state, event.attempts) == (Outcome.UNKNOWN, "absent", 2)
    assert _deals(term) == () and term.faults[0] == "timeout"


def test_a_disconnect_after_placing_is_not_resent_until_the_terminal_tells() -> None:
    term, _ = _setup()
    broker, _sleep = _quiet(term)
    term.inject("disconnect_placed")
    (event,) = broker.rebalance("EURUSD", 0.2, intent_id="ab")
    assert (event.outcome, event.state, event.proven_absent) == (Outcome.UNKNOWN, "unknown", False)
    assert "did not answer" in event.message
    term.initialize()
    (deal,) = _deals(term)
    assert deal.comment == event.comment
    assert broker.rebalance("EURUSD", 0.2, intent_id="ab2") == []  # already held: no double


def test_a_partial_fill_is_journaled_as_partial_and_the_rest_is_not_chased() -> None:
    term, _ = _setup()
    term.inject("partial")
    broker, _sleep = _quiet(term)
    (event,) = broker.rebalance("EURUSD", 0.4, intent_id="ac")
    assert (event.outcome, event.retcode, event.state) == (
        Outcome.FILLED, mt5.TRADE_RETCODE_DONE_PARTIAL, "partial",
    )  # fmt: skip
    assert (event.volume, event.requested_volume) == (0.2, 0.4)
    assert len(_deals(term)) == 1 and broker.net_position("EURUSD") == 0.2
    (rest,) = broker.rebalance("EURUSD", 0.4, intent_id="ad")  # the next intent closes the gap
    assert rest.volume == 0.2 and broker.net_position("EURUSD") == 0.4


def test_a_lost_reply_with_a_rewritten_comment_is_found_by_fingerprint() -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=30), start=10, comment_rewrite=lambda c: "")
    term.initialize()
    broker, _sleep = _quiet(term)
    broker.rebalance("EURUSD", 0.1, intent_id="ae")
    term.inject("none")
    (event,) = broker.rebalance("EURUSD", 0.3, intent_id="af")
    assert (event.state, event.matched_by) == ("filled_reconciled", "fingerprint")
    assert event.volume == 0.2
    assert len(_deals(term)) == 2 and broker.net_position("EURUSD") == 0.3


class NoAnswerTerminal(SimTerminal):
    """A terminal whose ``order_send`` returns None with a chosen ``last_error``."""

    error: tuple[int, str] = (mt5.RES_E_AUTH_FAILED, "Authorization failed")

    def order_send(self, request: object) -> None:  # type: ignore[override]
        self._error = self.error
        return None


def test_no_answer_with_an_auth_failure_is_operational_and_not_reconciled() -> None:
    term = NoAnswerTerminal(make_replay_bars(("EURUSD",), n=30), start=10)
    term.initialize()
    broker, _sleep = _quiet(term)
    (event,) = broker.rebalance("EURUSD", 0.1, intent_id="ag")
    assert (event.outcome, event.attempts, event.retcode) == (Outcome.OPERATIONAL, 1, None)


def test_a_reversal_sends_no_second_order_after_an_unknown_first() -> None:
    term, _ = _setup("hedging")
    broker, _sleep = _quiet(term)
    broker.rebalance("EURUSD", 0.3, intent_id="ah")
    term.inject("disconnect")
    (close,) = broker.rebalance("EURUSD", -0.2, intent_id="ai")
    assert close.request["position"] > 0 and close.state == "unknown"
    term.initialize()
    assert len(_deals(term)) == 1 and term.orders_get() == ()
