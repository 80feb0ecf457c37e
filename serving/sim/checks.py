"""The trade server's request checks for SimTerminal, as pure functions.

Each rule answers with the retcode a real server gives for that mistake, so the broker
adapter's outcome table is exercised by the same codes it will meet live.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any, Protocol

from data_contracts.symbols import SymbolSpec
from serving.mt5 import constants as mt5
from serving.mt5.types import TradeRequest
from serving.sim.fields import by_position

_REQUEST_FIELDS = frozenset(TradeRequest._fields)
_REQUEST_DEFAULTS: dict[str, Any] = dict.fromkeys(TradeRequest._fields, 0)
_REQUEST_DEFAULTS.update(
    symbol="", volume=0.0, price=0.0, stoplimit=0.0, sl=0.0, tp=0.0, comment=""
)


class _OpenPosition(Protocol):
    symbol: str
    type: int
    volume: float


def parse_request(request: Mapping[str, Any]) -> TradeRequest:
    """A request dict → ``TradeRequest``; unknown keys are a programming error."""
    if not _REQUEST_FIELDS.issuperset(request):
        unknown = sorted(set(request) - _REQUEST_FIELDS)
        raise TypeError(f"unknown trade request fields {unknown}")
    # the defaults are in field order, and a merge keeps their order: the values are the
    # request by position, built in 2/3 of the time of a keyword call
    return by_position(TradeRequest, {**_REQUEST_DEFAULTS, **request}.values())


def in_group(symbol: str, group: str | None) -> bool:
    """MT5 group filter: comma-separated masks, ``!mask`` excludes (``"*USD*,!EUR*"``)."""
    if not group:
        return True
    masks = [m.strip() for m in group.split(",") if m.strip()]
    if any(m.startswith("!") and fnmatch.fnmatchcase(symbol, m[1:]) for m in masks):
        return False
    return any(fnmatch.fnmatchcase(symbol, m) for m in masks if not m.startswith("!"))


def filling_allowed(spec: SymbolSpec, filling: int) -> bool:
    """FOK/IOC need their flag in ``filling_mode``; RETURN only when neither flag is set."""
    flags = {
        mt5.ORDER_FILLING_FOK: mt5.SYMBOL_FILLING_FOK,
        mt5.ORDER_FILLING_IOC: mt5.SYMBOL_FILLING_IOC,
    }
    if filling in flags:
        return bool(spec.filling_mode & flags[filling])
    return filling == mt5.ORDER_FILLING_RETURN and spec.filling_mode == 0


def check_request(
    req: TradeRequest,
    spec: SymbolSpec | None,
    *,
    market_open: bool,
    hedging: bool,
    closing: _OpenPosition | None,
    margin_needed: float,
    margin_free: float,
) -> tuple[int, str]:
    """Server-side checks for a market order, as (retcode, comment); 0 means acceptable.

    ``closing`` is the position named by ``req.position`` on a hedging account (None when
    the request names none or it no longer exists).
    """
    if req.action != mt5.TRADE_ACTION_DEAL or spec is None:
        return mt5.TRADE_RETCODE_INVALID, "Invalid request"
    if req.type not in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL):
        return mt5.TRADE_RETCODE_INVALID, "Invalid request"
    if spec.trade_mode == mt5.SYMBOL_TRADE_MODE_DISABLED:
        return mt5.TRADE_RETCODE_TRADE_DISABLED, "Trade disabled"
    if not market_open:
        return mt5.TRADE_RETCODE_MARKET_CLOSED, "Market closed"
    steps = req.volume / spec.volume_step
    if not spec.volume_min <= req.volume <= spec.volume_max or abs(steps - round(steps)) > 1e-6:
        return mt5.TRADE_RETCODE_INVALID_VOLUME, "Invalid volume"
    if not filling_allowed(spec, req.type_filling):
        return mt5.TRADE_RETCODE_INVALID_FILL, "Unsupported filling mode"
    if hedging and req.position:
        if closing is None:
            return mt5.TRADE_RETCODE_POSITION_CLOSED, "Position closed"
        if closing.type == req.type or closing.symbol != req.symbol:
            return mt5.TRADE_RETCODE_INVALID, "Invalid request"
        if req.volume > closing.volume + 1e-9:
            return mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME, "Invalid close volume"
        return 0, "Done"
    if margin_needed > margin_free:
        return mt5.TRADE_RETCODE_NO_MONEY, "No money"
    return 0, "Done"
