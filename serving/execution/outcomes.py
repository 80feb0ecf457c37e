"""One table from every MT5 trade retcode (and no answer at all) to what happens next.

DESIGN rule 5: translate outcomes once, and say what the operator does. A test walks every
``TRADE_RETCODE_*`` constant of the real module and asserts it is listed here, and every
``RES_*`` code ``last_error()`` can give when ``order_send`` returns ``None``.

How ``serving.execution.broker`` acts on each outcome: FILLED is journaled (10010: the part dealt; the
cancelled remainder is left to the next intent); PENDING is followed by ticket until its deal
appears; REQUOTE is retried with a fresh price up to ``max_requotes`` times; THROTTLED is
retried after an exponential back-off (``tenacity``, on the broker's injected ``sleep``) up to
``max_throttled`` times; UNKNOWN is reconciled by ticket, magic + comment and fingerprint
(``serving.execution.reconciler``) and resent only when proven absent; REJECTED and OPERATIONAL are
returned at once (the worker counts the one and trips the breaker on the other).
"""

from __future__ import annotations

import logging
from enum import StrEnum

from serving.mt5 import constants as mt5

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
    Outcome.PENDING: "nothing; followed by ticket until its deal appears",
    Outcome.REQUOTE: "nothing; retried with a fresh price a bounded number of times",
    Outcome.THROTTLED: "nothing; retried after a back-off, then at the next bar",
    Outcome.UNKNOWN: "if it stays unresolved, the symbol is blocked: check the terminal, then "
    "adopt its state (OrderExecutor.adopt_terminal_state)",
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


STOP_OUTCOMES = (Outcome.UNKNOWN, Outcome.OPERATIONAL)
"""After these nothing more of an intent is sent: the book is uncertain or a human must act
(a tuple built once: an enum class's attribute costs a Python call, and each order asks)."""

NO_ANSWER_OUTCOMES: dict[int, Outcome] = {
    mt5.RES_S_OK: Outcome.UNKNOWN,  # None with "success": nothing to go on
    mt5.RES_E_FAIL: Outcome.UNKNOWN,
    mt5.RES_E_INVALID_PARAMS: _R,  # the module refused the request before sending it
    mt5.RES_E_NO_MEMORY: Outcome.UNKNOWN,
    mt5.RES_E_NOT_FOUND: Outcome.UNKNOWN,
    mt5.RES_E_INVALID_VERSION: Outcome.OPERATIONAL,
    mt5.RES_E_AUTH_FAILED: Outcome.OPERATIONAL,
    mt5.RES_E_UNSUPPORTED: Outcome.OPERATIONAL,
    mt5.RES_E_AUTO_TRADING_DISABLED: Outcome.OPERATIONAL,
    mt5.RES_E_INTERNAL_FAIL: Outcome.UNKNOWN,  # IPC: the request may have reached the server
    mt5.RES_E_INTERNAL_FAIL_SEND: Outcome.UNKNOWN,
    mt5.RES_E_INTERNAL_FAIL_RECEIVE: Outcome.UNKNOWN,
    mt5.RES_E_INTERNAL_FAIL_INIT: Outcome.UNKNOWN,
    mt5.RES_E_INTERNAL_FAIL_CONNECT: Outcome.UNKNOWN,
    mt5.RES_E_INTERNAL_FAIL_TIMEOUT: Outcome.UNKNOWN,
}
"""``order_send`` returned ``None``: the outcome by ``last_error()`` code. Only errors that
prove the request never left (bad parameters) or that a human must act are not UNKNOWN."""


def outcome_of(retcode: int | None, last_error: int | None = None) -> Outcome:
    """The outcome of a retcode; ``None`` (no answer) goes by ``last_error`` (UNKNOWN when it
    is not given or not listed); unlisted retcodes are REJECTED."""
    if retcode is None:
        if last_error is None:
            return Outcome.UNKNOWN
        return NO_ANSWER_OUTCOMES.get(last_error, Outcome.UNKNOWN)
    outcome = RETCODE_OUTCOMES.get(retcode)
    if outcome is None:
        logger.warning("retcode %s is not in RETCODE_OUTCOMES; treated as rejected", retcode)
        return Outcome.REJECTED
    return outcome
