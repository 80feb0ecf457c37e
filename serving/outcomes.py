"""One table from every MT5 trade retcode (and no answer at all) to what happens next.

DESIGN rule 5: translate outcomes once, and say what the operator does. A test walks every
``TRADE_RETCODE_*`` constant of the real module and asserts it is listed here.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from serving import mt5_constants as mt5

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    FILLED = "filled"
    PENDING = "pending"
    REQUOTE = "requote"
    THROTTLED = "throttled"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    OPERATIONAL = "operational"


OPERATOR_ACTION: dict[Outcome, str] = {
    Outcome.FILLED: "nothing; 10010 partial fills leave the rest to the next rebalance",
    Outcome.PENDING: "nothing; the next reconciliation or rebalance sees the deal",
    Outcome.REQUOTE: "nothing; retried with a fresh price a bounded number of times",
    Outcome.THROTTLED: "nothing; the order is retried at the next bar",
    Outcome.UNKNOWN: "check the terminal if it repeats; reconciled by magic + comment",
    Outcome.REJECTED: "counted; investigate if they burst (the breaker trips on a burst)",
    Outcome.OPERATIONAL: "a human must act (enable auto-trading, fix the account); trading stopped",
}

_R = Outcome.REJECTED
RETCODE_OUTCOMES: dict[int, Outcome] = {
    mt5.TRADE_RETCODE_REQUOTE: Outcome.REQUOTE,
    mt5.TRADE_RETCODE_REJECT: _R,
    mt5.TRADE_RETCODE_CANCEL: _R,
    mt5.TRADE_RETCODE_PLACED: Outcome.PENDING,
    mt5.TRADE_RETCODE_DONE: Outcome.FILLED,
    mt5.TRADE_RETCODE_DONE_PARTIAL: Outcome.FILLED,
    mt5.TRADE_RETCODE_ERROR: Outcome.UNKNOWN,
    mt5.TRADE_RETCODE_TIMEOUT: Outcome.UNKNOWN,
    mt5.TRADE_RETCODE_INVALID: _R,
    mt5.TRADE_RETCODE_INVALID_VOLUME: _R,
    mt5.TRADE_RETCODE_INVALID_PRICE: _R,
    mt5.TRADE_RETCODE_INVALID_STOPS: _R,
    mt5.TRADE_RETCODE_TRADE_DISABLED: _R,
    mt5.TRADE_RETCODE_MARKET_CLOSED: _R,
    mt5.TRADE_RETCODE_NO_MONEY: _R,
    mt5.TRADE_RETCODE_PRICE_CHANGED: Outcome.REQUOTE,
    mt5.TRADE_RETCODE_PRICE_OFF: Outcome.REQUOTE,
    mt5.TRADE_RETCODE_INVALID_EXPIRATION: _R,
    mt5.TRADE_RETCODE_ORDER_CHANGED: _R,
    mt5.TRADE_RETCODE_TOO_MANY_REQUESTS: Outcome.THROTTLED,
    mt5.TRADE_RETCODE_NO_CHANGES: _R,  # modifications only; a market order never sees it
    mt5.TRADE_RETCODE_SERVER_DISABLES_AT: Outcome.OPERATIONAL,
    mt5.TRADE_RETCODE_CLIENT_DISABLES_AT: Outcome.OPERATIONAL,
    mt5.TRADE_RETCODE_LOCKED: Outcome.THROTTLED,
    mt5.TRADE_RETCODE_FROZEN: _R,
    mt5.TRADE_RETCODE_INVALID_FILL: _R,
    mt5.TRADE_RETCODE_CONNECTION: Outcome.UNKNOWN,
    mt5.TRADE_RETCODE_ONLY_REAL: Outcome.OPERATIONAL,
    mt5.TRADE_RETCODE_LIMIT_ORDERS: _R,
    mt5.TRADE_RETCODE_LIMIT_VOLUME: _R,
    mt5.TRADE_RETCODE_INVALID_ORDER: _R,
    mt5.TRADE_RETCODE_POSITION_CLOSED: _R,
    mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME: _R,
    mt5.TRADE_RETCODE_CLOSE_ORDER_EXIST: _R,
    mt5.TRADE_RETCODE_LIMIT_POSITIONS: _R,
    mt5.TRADE_RETCODE_REJECT_CANCEL: _R,
    mt5.TRADE_RETCODE_LONG_ONLY: _R,
    mt5.TRADE_RETCODE_SHORT_ONLY: _R,
    mt5.TRADE_RETCODE_CLOSE_ONLY: _R,
    mt5.TRADE_RETCODE_FIFO_CLOSE: _R,
}


def outcome_of(retcode: int | None) -> Outcome:
    """The outcome of a retcode; ``None`` (no answer) is UNKNOWN, unlisted codes REJECTED."""
    if retcode is None:
        return Outcome.UNKNOWN
    outcome = RETCODE_OUTCOMES.get(retcode)
    if outcome is None:
        logger.warning("retcode %s is not in RETCODE_OUTCOMES; treated as rejected", retcode)
        return Outcome.REJECTED
    return outcome
