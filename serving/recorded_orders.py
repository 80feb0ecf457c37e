"""The worker's record of each order event: journaled, counted, metered, breaker-fed, logged.

Every order event the executor, a shadow role or the tripped policy produces comes through one
``OrderRecorder``: its row joins the bar's answers in the journal, the order metrics and the
per-role count move, an operational failure trips the order-error breaker (a rejection counts
towards its burst), and a fill is logged once, as one INFO line a person greps, under the
worker's logger.
"""

from __future__ import annotations

import logging
from collections import Counter

from serving.execution.events import OrderEvent
from serving.execution.outcomes import Outcome
from serving.journal import JournalWrites
from serving.journal_writes import order_event_row
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.risk.breakers import CircuitBreaker


class OrderRecorder:
    """Called as ``(event, journal role, writes)`` (``serving.roles.Record``) per order event.

    ``sent`` counts the events recorded, by journal role; ``log`` is the logger the trade
    lines go to (the worker's, where operators and ``tate`` look for them).
    """

    def __init__(
        self, metrics: WorkerMetrics, breaker: CircuitBreaker, account: str, log: logging.Logger
    ) -> None:
        self.metrics, self.breaker, self.account, self.log = metrics, breaker, account, log
        self.sent: Counter[str] = Counter()

    def __call__(self, event: OrderEvent, role: str, writes: JournalWrites) -> None:
        """Journal an order event (with the bar's answers), count it, feed the breakers."""
        self.sent[role] += 1
        writes.add_order_event_row(
            order_event_row(
                event.intent_id,
                event.ticket,
                event.request,
                event.retcode,
                event.state,
                event.price,
                event.volume,
                event.slippage_points,
                event.latency_seconds,
                event.at,
                self.account,
            )
        )
        self.metrics.observe_order(
            event.symbol, role, event.retcode, event.outcome.value, event.latency_seconds
        )
        if event.outcome is Outcome.FILLED and event.volume > 0:
            log_trade(self.log, event, role)
        if event.outcome is Outcome.OPERATIONAL:
            self.breaker.trip(f"{event.symbol} {role}: retcode {event.retcode} {event.message}")
        elif event.outcome is Outcome.REJECTED:
            self.breaker.record_rejection(f"{event.symbol} {role}: {event.retcode}")


def log_trade(logger: logging.Logger, event: OrderEvent, role: str) -> None:
    """One INFO line per filled order, with its fields as JSON keys: the log a person greps."""
    if not logger.isEnabledFor(logging.INFO):
        return  # nobody reads it: spare every fill the dicts below
    sides = {mt5.ORDER_TYPE_BUY: "buy", mt5.ORDER_TYPE_SELL: "sell"}
    side = sides.get(int(event.request.get("type", -1)), "?")  # a reconciled event may lack it
    logger.info(
        "trade %s %s %s %g lots at %g (ticket %d)",
        role, event.symbol, side, event.volume, event.price, event.ticket,
        extra={
            "trade": True, "symbol": event.symbol, "role": role, "side": side,
            "volume": event.volume, "price": event.price, "ticket": event.ticket,
            "intent_id": event.intent_id, "state": event.state,
        },
    )  # fmt: skip
