"""The decision path's shortcuts give what the plain constructions and reads gave."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime

import pytest

from serving.execution.broker import Mt5Broker
from serving.execution.events import OrderEvent, order_event
from serving.execution.intents import (
    OrderState,
    PlannedOrder,
    intent_state_of,
    intent_state_value,
    order_comment,
    order_state_of,
    order_state_value,
    planned,
    reached_terminal,
)
from serving.execution.outcomes import Outcome
from serving.execution.store import IntentJournal
from serving.execution.trades import (
    Target,
    bar_datetime,
    decided_target,
    intent_totals,
    intent_totals_of,
    order_fields,
)
from serving.journal import Journal, JournalWrites
from serving.journal_schema import order_events
from serving.journal_writes import (
    decision_row,
    decision_values,
    order_event_row,
    stored_features,
)
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars

AT = datetime(2024, 1, 2, 3, tzinfo=UTC)


def test_order_event_equals_the_dataclass_built_from_the_same_fields() -> None:
    fields = {
        "intent_id": "i",
        "symbol": "EURUSD",
        "magic": 7,
        "comment": "ti.0",
        "outcome": Outcome.FILLED,
        "retcode": mt5.TRADE_RETCODE_DONE,
        "at": AT,
        "order_key": "i.0",
        "requested_volume": 0.5,
        "volume": 0.2,
    }
    fast, plain = order_event(**fields), OrderEvent(**fields)  # type: ignore[arg-type]
    assert fast == plain and fast.state == plain.state == "partial"
    assert dataclasses.replace(fast, volume=0.5).state == "filled"
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.volume = 1.0  # type: ignore[misc]


def test_order_event_gives_each_event_its_own_request_and_a_time() -> None:
    first = order_event(intent_id="i", symbol="X", magic=1, comment="", outcome=Outcome.REJECTED, retcode=None)  # fmt: skip
    second = order_event(intent_id="i", symbol="X", magic=1, comment="", outcome=Outcome.REJECTED, retcode=None)  # fmt: skip
    assert first.request == {} and first.request is not second.request
    assert first.at.tzinfo is not None


def test_order_event_names_a_misspelt_or_missing_field() -> None:
    with pytest.raises(TypeError, match="volumen"):
        order_event(intent_id="i", symbol="X", magic=1, comment="", outcome=Outcome.FILLED, retcode=0, volumen=1.0)  # fmt: skip
    with pytest.raises(TypeError, match="retcode"):
        order_event(intent_id="i", symbol="X", magic=1, comment="", outcome=Outcome.FILLED)


def test_a_planned_orders_key_is_its_intent_and_number() -> None:
    order = PlannedOrder("abc", 2, "EURUSD", 1, True, 0.1, 0, "tabc.2")
    assert order.key == "abc.2" and order.key == "abc.2"
    assert order == PlannedOrder("abc", 2, "EURUSD", 1, True, 0.1, 0, "tabc.2")


@pytest.mark.parametrize(
    ("states", "reached"),
    [
        ([], False),
        (["absent", "rejected"], False),
        (["rejected", "sent"], True),
        (["pending"], True),
    ],
)
def test_reached_terminal_reads_any_iterable_of_states(states: list[str], reached: bool) -> None:
    assert reached_terminal(iter(states)) is reached


def test_bar_datetime_is_the_utc_time_of_the_epoch_seconds() -> None:
    assert bar_datetime(1_700_000_000) == datetime.fromtimestamp(1_700_000_000, UTC)
    assert bar_datetime(1_700_000_000).tzinfo is UTC


class CountingTerminal(SimTerminal):
    """A SimTerminal that counts ``account_info`` calls."""

    account_calls = 0

    def account_info(self):  # type: ignore[no-untyped-def]
        self.account_calls += 1
        return super().account_info()


@pytest.mark.parametrize("mode", ["netting", "hedging"])
def test_the_broker_reads_the_margin_mode_once_and_keeps_planning_by_it(mode: str) -> None:
    term = CountingTerminal(make_replay_bars(("EURUSD",), n=40), account_mode=mode, start=10)  # type: ignore[arg-type]
    term.initialize()
    broker = Mt5Broker(term, magic=5)
    broker.rebalance("EURUSD", 0.3, intent_id="a")  # its plan reads the margin mode
    term.account_calls = 0  # (order_check reads the account too, inside the terminal)
    plans = [broker.plan("EURUSD", -0.2, intent_id="b") for _ in range(2)]
    # hedging closes the open buy, then sells the rest; netting sends one net order
    expected = [0.3, 0.2] if mode == "hedging" else [0.5]
    assert [[order.volume for order in plan or ()] for plan in plans] == [expected, expected]
    assert term.account_calls == 0


def test_a_silent_terminal_plans_as_netting_and_is_asked_again() -> None:
    term = CountingTerminal(make_replay_bars(("EURUSD",), n=40), account_mode="hedging", start=10)  # type: ignore[arg-type]
    term.initialize()
    Mt5Broker(term, magic=5).rebalance("EURUSD", 0.3, intent_id="a")
    broker = Mt5Broker(term, magic=5)  # has not read the margin mode yet
    term.account_info = lambda: None  # type: ignore[method-assign]
    silent = broker.plan("EURUSD", -0.2, intent_id="b")
    del term.account_info
    heard = broker.plan("EURUSD", -0.2, intent_id="b")
    assert silent is not None and [order.volume for order in silent] == [0.5]
    assert heard is not None and [order.volume for order in heard] == [0.3, 0.2]


# -- rows built by position equal the rows the keyword builders make -------------------------


def _rows(writes: JournalWrites) -> list[tuple[object, tuple[str, ...], list[dict[str, object]]]]:
    return [(statement, keys, list(rows)) for statement, keys, rows in writes.batches()]


@pytest.mark.parametrize("features", [[0.5, -1.25], [float("nan"), 2.0], [float("inf"), -float("inf")]])  # fmt: skip
def test_a_decision_row_by_position_is_the_keyword_row(features: list[float]) -> None:
    names = ("mom_3", "vol_5")
    plain = decision_row(
        bar_time=AT, symbol="EURUSD", role="champion", model_name="m", model_version="3",
        features=dict(zip(names, features, strict=True)), signal=-1, confidence=0.25, size=0.1,
        intent_id="i", account="1@a", decision_id="d", latency_seconds=0.001,
    )  # fmt: skip
    fast = decision_values(
        "d", AT, "EURUSD", "champion", "m", "3", stored_features(names, features), -1, 0.25,
        0.1, "i", "1@a", 0.001,
    )  # fmt: skip
    assert list(fast.items()) == list(plain.items())  # same columns, same order, same values
    assert (None in fast["features"].values()) == any(v != v for v in features)  # NaN: null


def test_an_order_event_row_by_position_is_the_keyword_row_in_column_order() -> None:
    values = ("i", 12, {"a": 1}, 10009, "filled", 1.1, 0.2, 0.5, 0.001, AT, "1@a")
    columns = [c.name for c in order_events.columns if c.name != "event_id"]
    fast = order_event_row(*values)  # type: ignore[arg-type]
    plain = order_event_row(**dict(zip(columns, values, strict=True)))  # type: ignore[arg-type]
    assert list(fast) == columns  # the worker passes the table's columns by position
    assert list(fast.items()) == list(plain.items()) and fast["request"] is not values[2]


@pytest.fixture
def store() -> IntentJournal:
    return IntentJournal(Journal("sqlite://"), "1@a")


def test_the_intended_intent_and_its_totals_are_the_rows_add_intent_adds(
    store: IntentJournal,
) -> None:
    fast, plain = JournalWrites(), JournalWrites()
    store.add_intended(fast, "i", AT, "champion", "EURUSD", 5, -0.3, bar_datetime(1_700_000_000))
    store.add_intent(
        plain, intent_id="i", at=AT, exists=False, state="intended", reason="",
        role="champion", symbol="EURUSD", magic=5, target_volume=-0.3,
        bar_time=bar_datetime(1_700_000_000),
    )  # fmt: skip
    store.add_intent_state(fast, "i", AT, "filled", -0.3, 0.0)
    store.add_intent_update(
        plain, "i", at=AT, state="filled", filled_volume=-0.3, remainder_volume=0.0
    )
    assert _rows(fast) == _rows(plain)


def test_an_order_sent_and_its_answer_are_the_records_new_order_and_update_order_make(
    store: IntentJournal,
) -> None:
    order = PlannedOrder("i", 1, "EURUSD", 5, False, 0.3, 77, "ti.1")
    fast = store.sending_order(order, AT, 1_700_000_000)
    plain = store.new_order(
        order.key, at=AT, **order_fields(order), state="sent", sent_time=1_700_000_000
    )
    assert fast == plain and list(fast.columns().items()) == list(plain.columns().items())
    answer = {"state": "filled", "retcode": 10009, "ticket": 9, "deal": 10,
              "filled_volume": 0.3, "price": 1.1, "attempts": 1, "sent_time": 1_700_000_001,
              "matched_by": "answer", "request": {"volume": 0.3}, "reason": "x" * 600}  # fmt: skip
    fast_writes, plain_writes = JournalWrites(), JournalWrites()
    settled = store.settle_order(fast_writes, fast, AT, *answer.values())  # type: ignore[arg-type]
    updated = store.update_order(plain_writes, plain, at=AT, **answer)
    assert settled == updated and settled.reason == "x" * 512
    assert _rows(fast_writes) == _rows(plain_writes)


def test_intent_totals_by_position_are_intent_totals(store: IntentJournal) -> None:
    orders = [PlannedOrder("i", s, "EURUSD", 5, s == 0, 0.3, 0, f"ti.{s}") for s in range(2)]
    rows = {o.key: store.sending_order(o, AT, 0) for o in orders}
    for key, state, filled in (("i.0", "filled", 0.3), ("i.1", "partial", 0.1)):
        rows[key] = rows[key].updated({"state": state, "filled_volume": filled})
        assert intent_totals_of(rows) == tuple(intent_totals(rows.values()).values())
    assert intent_totals_of({}) == ("intended", 0, 0)


def test_a_brokers_answer_is_the_event_event_for_builds() -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=40), start=10)
    broker = Mt5Broker(term, magic=5, now=lambda: AT)
    order = PlannedOrder("i", 0, "EURUSD", 5, True, 0.3, 0, "ti.0")
    request = {"volume": 0.3}
    fast = broker._answer(
        order, Outcome.FILLED, 10009, request, 2, 0.01, 1.1, 1_700_000_000, 9, 10, 1.2, 0.2,
        0.5, "done",
    )  # fmt: skip
    plain = broker._event_for(
        order, Outcome.FILLED, 10009, request=request, attempts=2, latency_seconds=0.01,
        requested_price=1.1, sent_time=1_700_000_000, ticket=9, deal=10, price=1.2, volume=0.2,
        slippage_points=0.5, message="done",
    )  # fmt: skip
    assert fast == plain and fast.state == plain.state == "partial"
    assert vars(fast).keys() == vars(plain).keys()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.volume = 1.0  # type: ignore[misc]


def test_a_planned_order_by_dict_is_the_dataclass_with_its_comment() -> None:
    fast = planned("a" * 30, 3, "EURUSD", 5, False, 0.2, 77)
    assert fast == PlannedOrder("a" * 30, 3, "EURUSD", 5, False, 0.2, 77, order_comment("a" * 30, 3))  # fmt: skip
    assert fast.key == "a" * 30 + ".3" and len(fast.comment) <= 31
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.volume = 1.0  # type: ignore[misc]


def test_a_decided_target_by_dict_is_the_dataclass() -> None:
    broker = Mt5Broker(SimTerminal(make_replay_bars(("EURUSD",), n=40), start=10), magic=5)
    fast = decided_target(broker, "EURUSD", -0.3, "i", "champion", 1_700_000_000)
    assert fast == Target(broker, "EURUSD", -0.3, "i", "champion", 1_700_000_000)
    assert hash(fast) == hash(Target(broker, "EURUSD", -0.3, "i", "champion", 1_700_000_000))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.volume = 1.0  # type: ignore[misc]


def test_an_intents_state_from_plain_strings_is_the_enums_value() -> None:
    states = [state.value for state in OrderState]
    for size in range(3):
        for chosen in itertools.combinations(states, size):
            assert intent_state_value(chosen) == intent_state_of(chosen).value
            assert type(intent_state_value(chosen)) is str


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize(("volume", "proven_absent"), [(0.3, False), (0.1, False), (0.0, True)])
def test_an_orders_state_by_look_up_is_the_state_its_answer_means(
    outcome: Outcome, volume: float, proven_absent: bool
) -> None:
    event = order_event(
        intent_id="i", symbol="X", magic=1, comment="", outcome=outcome, retcode=None,
        requested_volume=0.3, volume=volume, proven_absent=proven_absent,
    )  # fmt: skip
    expected = {Outcome.FILLED: "filled", Outcome.PENDING: "pending", Outcome.UNKNOWN: "unknown"}
    state = expected.get(outcome, "rejected")
    if proven_absent:
        state = "absent"
    elif outcome is Outcome.FILLED and volume < 0.3:
        state = "partial"
    assert order_state_value(event) == state and type(order_state_value(event)) is str
    assert order_state_of(event) is OrderState(state)
    base = "partial" if state == "partial" else outcome.value
    assert event.state == ("absent" if proven_absent else base)
    assert type(event.state) is str


@pytest.mark.parametrize("state", [state.value for state in OrderState])
@pytest.mark.parametrize(
    ("buy", "filled"), [(True, 0.3), (False, 0.3), (False, 0.1), (True, 0.0), (False, 0.0)]
)
def test_the_totals_of_an_intent_of_one_order_are_intent_totals(
    store: IntentJournal, state: str, buy: bool, filled: float
) -> None:
    order = PlannedOrder("i", 0, "EURUSD", 5, buy, 0.3, 0, "ti.0")
    row = store.sending_order(order, AT, 0).updated({"state": state, "filled_volume": filled})
    fast = intent_totals_of({order.key: row})
    plain = tuple(intent_totals([row]).values())
    assert fast == plain and [type(v) for v in fast] == [type(v) for v in plain]
    assert [str(v) for v in fast] == [str(v) for v in plain]  # -0.0 stays -0.0, 0 stays 0


def test_a_plan_closes_hedged_positions_oldest_ticket_first_whatever_the_terminals_order() -> None:
    term = SimTerminal(make_replay_bars(("EURUSD",), n=40), account_mode="hedging", start=10)
    term.initialize()
    opener = Mt5Broker(term, magic=5)
    for volume in (0.1, 0.2, 0.3):  # three buy positions, tickets rising
        opener.rebalance("EURUSD", opener.net_position("EURUSD") + volume, intent_id=f"o{volume}")
    positions = term.positions_get(symbol="EURUSD")
    tickets = sorted(p.ticket for p in positions)
    term.positions_get = lambda **_: tuple(reversed(positions))  # type: ignore[method-assign]
    plan = Mt5Broker(term, magic=5).plan("EURUSD", 0.15, intent_id="c")
    assert plan is not None
    assert [(order.position, order.volume) for order in plan] == [(tickets[0], 0.1), (tickets[1], 0.2), (tickets[2], 0.15)]  # fmt: skip


def test_an_updated_order_record_is_the_record_with_those_columns_replaced(
    store: IntentJournal,
) -> None:
    row = store.sending_order(PlannedOrder("i", 0, "EURUSD", 5, True, 0.3, 0, "ti.0"), AT, 0)
    updated = row.updated({"state": "filled", "ticket": 9})
    assert updated == dataclasses.replace(row, state="filled", ticket=9)
    assert list(updated.columns()) == list(row.columns()) and row.state == "sent"
    with pytest.raises(dataclasses.FrozenInstanceError):
        updated.state = "sent"  # type: ignore[misc]
