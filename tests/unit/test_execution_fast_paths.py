"""The decision path's shortcuts give what the plain constructions and reads gave."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from serving.execution.broker import Mt5Broker
from serving.execution.events import OrderEvent, order_event
from serving.execution.intents import PlannedOrder, reached_terminal
from serving.execution.outcomes import Outcome
from serving.execution.trades import bar_datetime
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
