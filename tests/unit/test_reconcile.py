"""Proving an order absent is a pure decision over what the terminal returned."""

from __future__ import annotations

from typing import Any

from serving.execution.intents import (
    IntentState,
    PlannedOrder,
    intent_state_of,
    looks_like_ours,
    order_comment,
    reached_terminal,
)
from serving.execution.reconciler import (
    Disagreement,
    TerminalView,
    TraceKind,
    compare_books,
    find_trace,
    terminal_book,
)
from serving.mt5 import constants as mt5
from serving.mt5.types import TradeDeal, TradeOrder, TradePosition

MAGIC, SENT = 4200, 1_700_000_000
ORDER = PlannedOrder("abc123", 0, "EURUSD", MAGIC, True, 0.3, 0, order_comment("abc123", 0))


def deal(**kw: Any) -> TradeDeal:
    values: dict[str, Any] = dict.fromkeys(TradeDeal._fields, 0)
    values.update(
        ticket=900, order=500, time=SENT, type=mt5.DEAL_TYPE_BUY, magic=MAGIC, volume=0.3,
        price=1.1, commission=0.0, swap=0.0, profit=0.0, fee=0.0, symbol="EURUSD",
        comment=ORDER.comment, external_id="",
    )  # fmt: skip
    values.update(kw)
    return TradeDeal(**values)


def order(**kw: Any) -> TradeOrder:
    values: dict[str, Any] = dict.fromkeys(TradeOrder._fields, 0)
    values.update(
        ticket=500, time_setup=SENT, type=mt5.ORDER_TYPE_BUY, state=mt5.ORDER_STATE_PLACED,
        magic=MAGIC, volume_initial=0.3, volume_current=0.3, price_open=1.1, sl=0.0, tp=0.0,
        price_current=1.1, price_stoplimit=0.0, symbol="EURUSD", comment=ORDER.comment,
        external_id="",
    )  # fmt: skip
    values.update(kw)
    return TradeOrder(**values)


def position(**kw: Any) -> TradePosition:
    values: dict[str, Any] = dict.fromkeys(TradePosition._fields, 0)
    values.update(
        ticket=500, time=SENT, type=mt5.POSITION_TYPE_BUY, magic=MAGIC, volume=0.3,
        price_open=1.1, sl=0.0, tp=0.0, price_current=1.1, swap=0.0, profit=0.0,
        symbol="EURUSD", comment=ORDER.comment, external_id="",
    )  # fmt: skip
    values.update(kw)
    return TradePosition(**values)


def view(deals=(), history=(), orders=(), positions=()) -> TerminalView:  # type: ignore[no-untyped-def]
    return TerminalView(tuple(deals), tuple(history), tuple(orders), tuple(positions))


def test_a_terminal_that_does_not_answer_proves_nothing() -> None:
    trace = find_trace(ORDER, None, sent_time=SENT)
    assert trace.kind is TraceKind.UNRESOLVED and "did not answer" in trace.reason


def test_nothing_anywhere_is_proven_absent() -> None:
    trace = find_trace(ORDER, view(), sent_time=SENT)
    assert trace.kind is TraceKind.ABSENT


def test_a_deal_with_the_orders_comment_is_found_and_several_deals_of_it_add_up() -> None:
    deals = [deal(ticket=901, volume=0.1, price=1.0), deal(ticket=902, volume=0.2, price=1.3)]
    trace = find_trace(ORDER, view(deals=deals), sent_time=SENT)
    assert (trace.kind, trace.matched_by, trace.ticket, trace.deal) == (
        TraceKind.FILLED, "comment", 500, 901,
    )  # fmt: skip
    assert trace.volume == 0.3 and abs(trace.price - 1.2) < 1e-12


def test_two_orders_under_one_key_are_reported_as_a_duplicate() -> None:
    deals = [deal(ticket=901, order=500), deal(ticket=902, order=501)]
    trace = find_trace(ORDER, view(deals=deals), sent_time=SENT)
    assert trace.tickets == (500, 501) and "duplicate" in trace.reason


def test_a_known_ticket_finds_its_deal_even_when_the_comment_was_rewritten() -> None:
    trace = find_trace(ORDER, view(deals=[deal(comment="[sl]")]), ticket=500, sent_time=SENT)
    assert (trace.kind, trace.matched_by) == (TraceKind.FILLED, "ticket")


def test_a_known_ticket_still_open_is_pending_and_cancelled_without_a_deal_is_absent() -> None:
    assert find_trace(ORDER, view(orders=[order()]), ticket=500, sent_time=SENT).kind is (
        TraceKind.PENDING
    )
    dead = order(state=mt5.ORDER_STATE_REJECTED)
    trace = find_trace(ORDER, view(history=[dead]), ticket=500, sent_time=SENT)
    assert trace.kind is TraceKind.ABSENT and trace.ticket == 500


def test_a_known_ticket_missing_from_history_is_not_absent() -> None:
    trace = find_trace(ORDER, view(), ticket=500, sent_time=SENT)
    assert trace.kind is TraceKind.UNRESOLVED


def test_an_open_order_with_the_comment_is_pending_and_a_position_is_not_absent() -> None:
    assert find_trace(ORDER, view(orders=[order()]), sent_time=SENT).kind is TraceKind.PENDING
    trace = find_trace(ORDER, view(positions=[position()]), sent_time=SENT)
    assert (trace.kind, trace.matched_by) == (TraceKind.UNRESOLVED, "position")


def test_other_magics_symbols_and_keys_are_not_this_order() -> None:
    others = [
        deal(magic=MAGIC + 1),
        deal(symbol="USDJPY"),
        deal(comment=order_comment("abc123", 1)),  # our other order: never a candidate
    ]
    assert find_trace(ORDER, view(deals=others), sent_time=SENT).kind is TraceKind.ABSENT


def test_a_rewritten_comment_is_matched_by_a_unique_fingerprint() -> None:
    trace = find_trace(ORDER, view(deals=[deal(comment="")]), sent_time=SENT)
    assert (trace.kind, trace.matched_by) == (TraceKind.FILLED, "fingerprint")


def test_fingerprint_skips_claimed_tickets_wrong_side_bigger_volume_and_older_deals() -> None:
    deals = [
        deal(comment="", order=501),  # claimed: another journaled order's ticket
        deal(comment="", order=502, type=mt5.DEAL_TYPE_SELL),
        deal(comment="", order=503, volume=0.5),
        deal(comment="", order=504, time=SENT - 3_600),
    ]
    trace = find_trace(ORDER, view(deals=deals), sent_time=SENT, claimed=frozenset({501}))
    assert trace.kind is TraceKind.ABSENT


def test_two_fingerprint_candidates_are_ambiguous_never_absent() -> None:
    deals = [deal(comment="", order=501), deal(comment="x", order=502)]
    trace = find_trace(ORDER, view(deals=deals), sent_time=SENT)
    assert trace.kind is TraceKind.UNRESOLVED and "2 orders match" in trace.reason


def test_a_hedging_close_must_close_the_same_position() -> None:
    close = PlannedOrder("abc123", 1, "EURUSD", MAGIC, False, 0.3, 777, "t-c.1")
    other = deal(comment="", type=mt5.DEAL_TYPE_SELL, position_id=778)
    assert find_trace(close, view(deals=[other]), sent_time=SENT).kind is TraceKind.ABSENT
    same = other._replace(position_id=777)
    assert find_trace(close, view(deals=[same]), sent_time=SENT).kind is TraceKind.FILLED


def test_comment_shape_is_recognised() -> None:
    assert looks_like_ours(order_comment("0123456789abcdef", 2))
    assert looks_like_ours(order_comment("x" * 40, 0)) and len(order_comment("x" * 40, 999)) <= 31
    assert not looks_like_ours("") and not looks_like_ours("[sl 1.1]")


def test_books_compare_per_symbol_and_magic_and_other_magics_are_external() -> None:
    positions = [
        position(),
        position(ticket=501, type=mt5.POSITION_TYPE_SELL, volume=0.1),
        position(ticket=502, magic=7),
    ]
    orders = [order(ticket=503, type=mt5.ORDER_TYPE_SELL, volume_current=0.05)]
    held, external = terminal_book(positions, orders, {MAGIC})
    assert held == {("EURUSD", MAGIC): 0.15} and [p.ticket for p in external] == [502]
    assert compare_books({("EURUSD", MAGIC): 0.15}, held) == []
    (d,) = compare_books({("EURUSD", MAGIC): 0.2, ("USDJPY", MAGIC): 0.0}, held)
    assert d == Disagreement("EURUSD", MAGIC, 0.2, 0.15)
    assert "expects +0.2 lots" in str(d) and "holds +0.15" in str(d)


def test_an_intent_is_as_uncertain_as_its_most_uncertain_order() -> None:
    assert intent_state_of([]) is IntentState.INTENDED
    assert intent_state_of(["filled", "unknown"]) is IntentState.UNKNOWN
    assert intent_state_of(["absent", "filled"]) is IntentState.FILLED
    assert intent_state_of(["absent", "rejected"]) is IntentState.REJECTED
    assert not reached_terminal(["absent", "rejected", "adopted"])
    assert all(reached_terminal([s]) for s in ("sent", "pending", "unknown", "partial", "filled"))
