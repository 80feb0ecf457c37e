"""Builders for SimTerminal's two wide tuples (``AccountInfo``, ``SymbolInfo``).

Kept out of ``sim_terminal`` because they are long lists of broker facts, not logic.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from data_contracts.symbols import SymbolSpec
from serving.mt5 import constants as mt5
from serving.mt5.types import AccountInfo, SymbolInfo

if TYPE_CHECKING:
    from serving.sim.terminal import SimTerminal

by_position = tuple.__new__
"""``by_position(TradeDeal, values)`` builds a named tuple from its values in field order:
``TradeDeal._make(values)`` without ``_make``'s Python frame and length check, a third of
a keyword call's time. For the tuples the terminal builds on every fill and bar; their
values are written out in field order, one per line, and the tests compare every field."""


class Funds(NamedTuple):
    """The account's money as ``account_info()`` reports it, rounded to cents: all the
    server's checks and ``order_check`` read of the account, made after every fill without
    building the whole ``AccountInfo`` (which only ``account_info()`` asks for)."""

    balance: float
    profit: float
    equity: float
    margin: float
    margin_free: float


def funds(balance: float, profit: float, margin: float) -> Funds:
    """The account's ``Funds`` from its balance, floating profit and margin held."""
    equity = balance + profit
    return by_position(
        Funds,
        (
            round(balance, 2),
            round(profit, 2),
            round(equity, 2),
            round(margin, 2),
            round(equity - margin, 2),  # margin_free
        ),
    )


def account_tuple(
    terminal: SimTerminal, balance: float, profit: float, margin: float, margin_mode: int
) -> AccountInfo:
    """A demo account as ``account_info()`` reports it (stop-out at 50 %, call at 100 %),
    its money the same ``funds`` the server's checks read.

    Built by position: a keyword call binding 28 names takes several times as long."""
    money = funds(balance, profit, margin)
    equity = balance + profit
    return by_position(
        AccountInfo,
        (
            terminal.login_id,  # login
            mt5.ACCOUNT_TRADE_MODE_DEMO,  # trade_mode
            terminal.leverage,
            200,  # limit_orders
            mt5.ACCOUNT_STOPOUT_MODE_PERCENT,  # margin_so_mode
            True,  # trade_allowed
            True,  # trade_expert
            margin_mode,
            2,  # currency_digits
            False,  # fifo_close
            money.balance,
            0.0,  # credit
            money.profit,
            money.equity,
            money.margin,
            money.margin_free,
            round(100.0 * equity / margin, 2) if margin else 0.0,  # margin_level
            100.0,  # margin_so_call
            50.0,  # margin_so_so
            0.0,  # margin_initial
            0.0,  # margin_maintenance
            0.0,  # assets
            0.0,  # liabilities
            0.0,  # commission_blocked
            "tate replay",  # name
            terminal.server,
            terminal.currency,
            "tate SimTerminal",  # company
        ),
    )


_TIME, _SPREAD, _BID, _ASK, _TICK_VALUE, _TICK_VALUE_PROFIT, _TICK_VALUE_LOSS = (
    SymbolInfo._fields.index(name)
    for name in (
        "time",
        "spread",
        "bid",
        "ask",
        "trade_tick_value",
        "trade_tick_value_profit",
        "trade_tick_value_loss",
    )
)
"""Where the fields that move with the quote sit in ``SymbolInfo``."""

_TEMPLATES: dict[str, tuple[SymbolSpec, list[Any]]] = {}
"""Symbol name → the spec last asked for and its ``symbol_info_template`` as a list, looked up
by name (``symbol_info_template``'s cache hashes all of a spec's fields, on every new bar and
symbol). Invalidated by a different spec object of the same name, whose template then
replaces it."""


def symbol_info_tuple(
    spec: SymbolSpec, bid: float, ask: float, spread: int, time: int, tick_value: float
) -> SymbolInfo:
    """``symbol_info()`` for ``spec`` at the current quote: the template with the quote's
    fields set by position (``_replace`` looks up all 96 fields by name, a new bar's
    costliest answer)."""
    kept = _TEMPLATES.get(spec.name)
    if kept is None or kept[0] is not spec:
        kept = _TEMPLATES[spec.name] = (spec, list(symbol_info_template(spec)))
    values = kept[1].copy()
    values[_TIME], values[_SPREAD], values[_BID], values[_ASK] = time, spread, bid, ask
    values[_TICK_VALUE] = values[_TICK_VALUE_PROFIT] = values[_TICK_VALUE_LOSS] = tick_value
    return by_position(SymbolInfo, values)


@cache
def symbol_info_template(spec: SymbolSpec) -> SymbolInfo:
    """The part of ``symbol_info()`` that never moves with the quote, built once per spec
    (the quote's fields are zero here)."""
    values: dict[str, Any] = dict.fromkeys(SymbolInfo._fields, 0)
    values.update(
        {k: 0.0 for k, t in SymbolInfo.__annotations__.items() if t == "float"},
        **{k: "" for k, t in SymbolInfo.__annotations__.items() if t == "str"},
    )
    values.update(
        custom=False,
        chart_mode=mt5.SYMBOL_CHART_MODE_BID,
        select=True,
        visible=True,
        digits=spec.digits,
        spread_float=True,
        trade_calc_mode=spec.trade_calc_mode,
        trade_mode=spec.trade_mode,
        trade_stops_level=spec.trade_stops_level,
        trade_freeze_level=spec.trade_freeze_level,
        trade_exemode=spec.trade_exemode,
        swap_mode=spec.swap_mode,
        swap_rollover3days=spec.swap_rollover3days,
        expiration_mode=spec.expiration_mode,
        filling_mode=spec.filling_mode,
        order_mode=spec.order_mode,
        order_gtc_mode=mt5.SYMBOL_ORDERS_GTC,
        point=spec.point,
        trade_tick_size=spec.trade_tick_size,
        trade_contract_size=spec.trade_contract_size,
        volume_min=spec.volume_min,
        volume_max=spec.volume_max,
        volume_step=spec.volume_step,
        volume_limit=spec.volume_limit,
        swap_long=spec.swap_long,
        swap_short=spec.swap_short,
        margin_hedged=spec.margin_hedged,
        currency_base=spec.currency_base,
        currency_profit=spec.currency_profit,
        currency_margin=spec.currency_margin,
        description=spec.description,
        name=spec.name,
        path=f"Forex\\{spec.name}",
    )
    return SymbolInfo(**values)
