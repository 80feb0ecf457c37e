"""At start-up and while orders are open, the executor trusts the terminal over its journal:
it refuses to trade on a disagreement, leaves other magics alone, follows pending orders and
partial fills to their deals, and never chases a remainder under the same intent."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.costs import CostModel
from serving.execution.broker import Mt5Broker
from serving.mt5 import constants as mt5
from tests.execution_process import (
    MAGIC,
    Killed,
    Process,
    crash_at,
    deals_of,
    journal_url,
    sim_term,
)


def test_an_unresolved_order_blocks_its_symbol_until_the_terminal_answers(tmp_path: Path) -> None:
    term = sim_term()
    proc = Process(term, journal_url(tmp_path))
    term.inject("disconnect_placed")
    (event,) = proc.trade("EURUSD", 0.3, "i1")
    assert event.state == "unknown" and proc.store.orders()[0].state == "unknown"
    assert proc.trade("EURUSD", 0.5, "i2") == []  # still offline: blocked, nothing sent
    blocked = proc.store.intent("i2")
    assert blocked.state == "blocked" and "i1.0" in blocked.reason
    term.initialize()
    (more,) = proc.trade("EURUSD", 0.5, "i3")
    assert more.volume == pytest.approx(0.2)  # i1 was found filled: only the difference
    assert proc.store.orders(intent_id="i1")[0].state == "filled"
    assert [d.volume for d in deals_of(term)] == [0.3, 0.2]


def test_start_up_refuses_on_a_disagreement_says_why_and_adoption_clears_it(
    tmp_path: Path,
) -> None:
    term = sim_term()
    Mt5Broker(term, magic=MAGIC).rebalance("EURUSD", 0.3, intent_id="by-hand")  # not journaled
    proc = Process(term, journal_url(tmp_path))
    report = proc.executor.start_up({MAGIC})
    assert not report.agreed
    assert proc.executor.refusing == (
        f"EURUSD magic {MAGIC}: the journal expects +0 lots, "
        "the terminal holds +0.3 (positions and pending orders)"
    )
    assert proc.trade("EURUSD", 0.5, "i1") == []
    assert proc.store.intent("i1").state == "refused" and len(deals_of(term)) == 1
    assert proc.executor.adopt_terminal_state(by="ops@desk", note="manual test trade").agreed
    adopted = proc.store.read_intents().query("role == 'adopt'")
    assert len(adopted) == 1 and "ops@desk" in adopted["reason"].iloc[0]
    (event,) = proc.trade("EURUSD", 0.5, "i2")
    assert event.volume == pytest.approx(0.2)
    restarted = Process(term, journal_url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed  # adoption is remembered


def test_positions_of_other_magics_are_external_reported_and_left_alone(tmp_path: Path) -> None:
    term = sim_term("hedging")
    Mt5Broker(term, magic=1).rebalance("EURUSD", -0.4, intent_id="manual")
    proc = Process(term, journal_url(tmp_path))
    report = proc.executor.start_up({MAGIC})
    assert report.agreed and [(p.magic, p.volume) for p in report.external] == [(1, 0.4)]
    proc.trade("EURUSD", 0.2, "i1")
    proc.trade("EURUSD", 0.0, "i2")
    assert Mt5Broker(term, magic=1).net_position("EURUSD") == -0.4


def test_a_terminal_that_does_not_answer_at_start_up_is_refused_until_it_does(
    tmp_path: Path,
) -> None:
    term = sim_term()
    proc = Process(term, journal_url(tmp_path))
    term.disconnect()
    assert "did not answer" in (proc.executor.start_up({MAGIC}).reasons[0])
    assert proc.trade("EURUSD", 0.3, "i1") == []
    term.initialize()
    assert len(proc.trade("EURUSD", 0.3, "i2")) == 1 and proc.executor.refusing is None


def test_pending_orders_are_followed_until_their_deal_is_journaled(tmp_path: Path) -> None:
    term = sim_term(costs=CostModel(latency_bars=1))
    proc = Process(term, journal_url(tmp_path))
    (event,) = proc.trade("EURUSD", 0.3, "i1")
    assert event.state == "pending" and proc.store.intent("i1").state == "pending"
    assert proc.executor.start_up({MAGIC}).agreed  # pending counts on both sides
    term.advance()
    assert proc.trade("EURUSD", 0.3, "i2") == []
    (row,) = proc.store.orders(intent_id="i1")
    assert (row.state, row.filled_volume, row.deal > 0) == ("filled", 0.3, True)
    assert list(proc.journal.read_order_events()["state"]) == ["filled_reconciled"]
    assert proc.store.intent("i1").state == "filled"


def test_a_partial_fills_remainder_is_tracked_on_the_intent(tmp_path: Path) -> None:
    term = sim_term()
    proc = Process(term, journal_url(tmp_path))
    term.inject("partial")
    proc.trade("EURUSD", -0.5, "i1")
    intent = proc.store.intent("i1")
    assert (intent.state, intent.filled_volume, intent.remainder_volume) == (
        "partial", -0.25, -0.25,
    )  # fmt: skip
    assert proc.executor.start_up({MAGIC}).agreed


def test_a_placed_order_cancelled_at_fill_time_is_rejected_not_held(tmp_path: Path) -> None:
    term = sim_term("hedging", costs=CostModel(latency_bars=1))
    proc = Process(term, journal_url(tmp_path))
    proc.trade("EURUSD", 0.3, "i1")
    term.advance()
    (pos,) = term.positions_get()
    other = {
        "action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.3, "position": pos.ticket,
        "type": mt5.ORDER_TYPE_SELL, "price": term.symbol_info_tick("EURUSD").bid, "magic": 1,
        "type_filling": mt5.ORDER_FILLING_FOK,
    }  # fmt: skip
    term.order_send(other)  # someone else closes our position first
    (close,) = proc.trade("EURUSD", 0.0, "i2")
    assert close.state == "pending"
    term.advance()
    report = proc.executor.start_up({MAGIC})
    (row,) = proc.store.orders(intent_id="i2")
    assert row.state == "rejected" and row.filled_volume == 0.0
    assert not report.agreed and "expects +0.3 lots, the terminal holds +0" in report.reasons[0]


def test_a_restart_after_a_partial_fill_does_not_chase_the_rest_under_the_same_intent(
    tmp_path: Path,
) -> None:
    term = sim_term()
    term.inject("partial")
    with pytest.raises(Killed):
        Process(term, journal_url(tmp_path), crash=crash_at("answered")).trade("EURUSD", 0.5, "i1")
    restarted = Process(term, journal_url(tmp_path))
    assert restarted.executor.start_up({MAGIC}).agreed
    assert restarted.trade("EURUSD", 0.5, "i1") == []  # the same bar again: once per intent
    assert restarted.store.intent("i1").remainder_volume == pytest.approx(0.25)
    (rest,) = restarted.trade("EURUSD", 0.5, "i2")  # the next bar's intent closes the gap
    assert rest.volume == pytest.approx(0.25) and len(deals_of(term)) == 2
