"""Signed lots: the one place a position's or order's side becomes a sign (buy +, sell −).

The journal, the books and the broker all count exposure as signed lots per (symbol, magic);
MT5 gives an unsigned volume and a type. Pending market orders count with what is still
open of them (``volume_current``). The broker's plan asks once per held position per
decision, so each reads its two fields inline (no helper call).
"""

from __future__ import annotations

from serving.mt5 import constants as mt5
from serving.mt5.types import TradeOrder, TradePosition

_BUY_POSITION, _BUY_ORDER = mt5.POSITION_TYPE_BUY, mt5.ORDER_TYPE_BUY


def position_lots(position: TradePosition) -> float:
    """The position's signed lots (a buy position holds +volume)."""
    return position.volume if position.type == _BUY_POSITION else -position.volume


def order_lots(order: TradeOrder) -> float:
    """The signed lots a pending market order still adds (its ``volume_current``)."""
    return order.volume_current if order.type == _BUY_ORDER else -order.volume_current
