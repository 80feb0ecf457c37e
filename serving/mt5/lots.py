"""Signed lots: the one place a position's or order's side becomes a sign (buy +, sell −).

The journal, the books and the broker all count exposure as signed lots per (symbol, magic);
MT5 gives an unsigned volume and a type. Pending market orders count with what is still
open of them (``volume_current``).
"""

from __future__ import annotations

from serving.mt5 import constants as mt5
from serving.mt5.types import TradeOrder, TradePosition


def signed_lots(volume: float, buy: bool) -> float:
    """``volume`` as exposure: positive when it buys, negative when it sells."""
    return volume if buy else -volume


def position_lots(position: TradePosition) -> float:
    """The position's signed lots (a buy position holds +volume)."""
    return signed_lots(position.volume, position.type == mt5.POSITION_TYPE_BUY)


def order_lots(order: TradeOrder) -> float:
    """The signed lots a pending market order still adds (its ``volume_current``)."""
    return signed_lots(order.volume_current, order.type == mt5.ORDER_TYPE_BUY)
