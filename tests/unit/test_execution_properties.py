"""Whatever the faults and wherever the process dies: one deal per order, none unexplained,
and a journal that matches the terminal.

Each example trades a few intents on one SimTerminal (netting or hedging, with or without
latency, with or without a broker that rewrites comments) through ``OrderExecutor``. Before
each intent, faults are queued for ``order_send`` (lost replies after placing, timeouts,
disconnects, requote storms, throttling, partial fills, rejections) and the process may be
killed at one of the three points between journal and terminal; a killed process is replaced
by a new one over the same journal and terminal, which reconciles at start-up and decides the
same bar again. At the end the terminal comes back, placed orders fill, and a last restart's
start-up reconciliation must agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.costs import CostModel
from serving.execution.broker import Mt5Broker
from serving.execution.executor import OrderExecutor
from serving.execution.reconciler import compare_books, terminal_book
from serving.execution.store import IntentJournal
from serving.journal import Journal
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock
from tests.factories import make_replay_bars

MAGIC = 6100
BARS: dict[str, pd.DataFrame] = make_replay_bars(("EURUSD",), n=40, seed=9)
FAULTS = st.sampled_from(
    [
        "none",
        "timeout",
        "disconnect",
        "disconnect_placed",
        "partial",
        "requote",
        "no_connection",
        mt5.TRADE_RETCODE_TOO_MANY_REQUESTS,
        mt5.TRADE_RETCODE_REJECT,
        mt5.TRADE_RETCODE_TIMEOUT,
    ]
)
STEP = st.tuples(
    st.sampled_from([-0.3, -0.1, 0.0, 0.2, 0.4]),  # target lots
    st.lists(FAULTS, max_size=4),  # faults for the next order_send calls
    st.sampled_from([None, None, "intent", "sent", "answered"]),  # where the process dies
    st.booleans(),  # the replay advances a bar afterwards
    st.booleans(),  # a lost terminal comes back afterwards
)
HELD = ("filled", "partial")


class Killed(BaseException):
    pass


class Process:
    """One life of the worker's execution side over the surviving journal and terminal."""

    def __init__(self, term: SimTerminal, journal: Journal, crash: str | None) -> None:
        self.journal, self.crash_point = journal, crash
        clock = ReplayClock(term)
        self.executor = OrderExecutor(journal, term, now=clock.now, crash=self._crash)
        self.broker = Mt5Broker(term, magic=MAGIC, now=clock.now, sleep=lambda s: None)
        self.executor.start_up({MAGIC})

    def _crash(self, point: str) -> None:
        if point == self.crash_point:
            self.crash_point = None
            raise Killed(point)

    def trade(self, target: float, intent_id: str) -> None:
        events = self.executor.rebalance(
            self.broker, "EURUSD", target, intent_id=intent_id, role="champion"
        )
        for e in events:  # what the worker's _record journals for each event
            self.journal.record_order_event(
                intent_id=e.intent_id, ticket=e.ticket, request=e.request, retcode=e.retcode,
                state=e.state, price=e.price, volume=e.volume,
                slippage_points=e.slippage_points, latency_seconds=e.latency_seconds, at=e.at,
            )  # fmt: skip


def _run(
    steps: list[tuple[float, list[Any], str | None, bool, bool]],
    mode: str,
    latency: int,
    rewrite: Callable[[str], str] | None,
) -> tuple[SimTerminal, Journal]:
    term = SimTerminal(
        BARS, start=10, account_mode=mode, costs=CostModel(latency_bars=latency),  # type: ignore[arg-type]
        comment_rewrite=rewrite,
    )  # fmt: skip
    term.initialize()
    journal = Journal("sqlite://")
    proc = Process(term, journal, None)
    for i, (target, faults, crash, advance, reconnect) in enumerate(steps):
        term.faults.clear()
        term.inject(*faults)
        proc.crash_point = crash
        try:
            proc.trade(target, f"i{i}")
        except Killed:
            proc = Process(term, journal, None)  # restart: reconcile, then the same bar again
            proc.trade(target, f"i{i}")
        if reconnect:
            term.initialize()
        if advance:
            term.advance()
    term.faults.clear()
    term.initialize()
    for _ in range(latency + 1):
        term.advance()
    return term, journal


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    steps=st.lists(STEP, min_size=1, max_size=6),
    mode=st.sampled_from(["netting", "hedging"]),
    latency=st.sampled_from([0, 1]),
    rewrite=st.booleans(),
)
def test_random_faults_and_kills_leave_one_deal_per_order_and_a_matching_journal(
    steps: list[tuple[float, list[Any], str | None, bool, bool]],
    mode: str,
    latency: int,
    rewrite: bool,
) -> None:
    check_run(steps, mode, latency, rewrite)


def check_run(
    steps: list[tuple[float, list[Any], str | None, bool, bool]],
    mode: str,
    latency: int,
    rewrite: bool,
) -> None:
    """Run the steps, restart once more, and check every invariant."""
    term, journal = _run(steps, mode, latency, (lambda c: "") if rewrite else None)
    final = Process(term, journal, None)  # a last restart, with the terminal back
    report = final.executor.start_up({MAGIC})
    assert report.agreed, report.reasons

    store = IntentJournal(journal)
    rows = store.orders()
    deals = term.history_deals_get(0, 2**40)
    ours = [d for d in deals if d.magic == MAGIC]
    assert len(ours) == len(deals)

    # no order is left open: every one is known filled, partial, rejected or absent
    assert {r.state for r in rows} <= {*HELD, "rejected", "absent"}, rows
    # every deal is explained by exactly one journaled order, and each order has one deal
    by_ticket = {r.ticket: r for r in rows if r.state in HELD}
    assert len(by_ticket) == sum(r.state in HELD for r in rows)
    assert {d.order for d in ours} == set(by_ticket)
    assert all(n == 1 for n in Counter(d.order for d in ours).values())
    for d in ours:
        row = by_ticket[d.order]
        assert abs(d.volume - row.filled_volume) < 1e-9 and row.side == (
            1 if d.type == mt5.DEAL_TYPE_BUY else -1
        )
    if not rewrite:  # the comment hint is intact: at most one deal per order key
        assert all(n == 1 for n in Counter(d.comment for d in ours).values())
        assert {d.comment for d in ours} == {r.comment for r in rows if r.state in HELD}
    # intents with nothing held made no deal; each intent deals once per order it holds
    per_intent = Counter(by_ticket[d.order].intent_id for d in ours)
    if mode == "netting":  # one order per intent there: exactly one deal per intent at most
        assert all(n == 1 for n in per_intent.values()), per_intent
    for intent in store.read_intents().itertuples():
        held = [r for r in rows if r.intent_id == intent.intent_id and r.state in HELD]
        assert per_intent.get(intent.intent_id, 0) == len(held)
    # the journal's book is the terminal's
    held_lots, _ = terminal_book(term.positions_get(), term.orders_get(), {MAGIC})
    assert compare_books(store.expected_book(), held_lots) == []
    # the order events agree with the deals: each dealt ticket has a fill event
    events = journal.read_order_events()
    filled = events[events["state"].str.startswith(HELD)]
    assert set(filled["ticket"]) == set(by_ticket)
