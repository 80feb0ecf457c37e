"""What each role holds and has made, told apart by magic number.

One ``positions_get()`` and one ``history_deals_get(day_start, …)`` per bar give every role's
signed lots per symbol, its floating profit (profit + swap of its open positions) and what it
realised since the trading day began (profit + commission + swap + fee of its deals, entries
included, since commission is charged on the way in). The numbers feed the position and PnL
gauges and the daily-loss breaker. ``summarize_book`` is the pure part; ``read_book`` the two
terminal calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from serving.mt5.lots import position_lots
from serving.mt5.terminal import Terminal
from serving.mt5.types import TradeDeal, TradePosition


@dataclass
class RoleBook:
    """One role's signed lots per symbol, floating profit and realised profit today."""

    volumes: dict[str, float] = field(default_factory=dict)
    floating: float = 0.0
    realised: float = 0.0


def summarize_book(
    positions: Iterable[TradePosition],
    deals: Iterable[TradeDeal],
    roles_by_magic: Mapping[int, str],
) -> dict[str, RoleBook]:
    """Each role's book from the terminal's positions and deals; other magics are ignored."""
    books = {role: RoleBook() for role in roles_by_magic.values()}
    for p in positions:
        role = roles_by_magic.get(p.magic)
        if role is None:
            continue
        book = books[role]
        book.volumes[p.symbol] = round(book.volumes.get(p.symbol, 0.0) + position_lots(p), 8)
        book.floating += p.profit + p.swap
    for d in deals:
        role = roles_by_magic.get(d.magic)
        if role is not None:
            books[role].realised += d.profit + d.commission + d.swap + d.fee
    return books


def read_book(
    terminal: Terminal, roles_by_magic: Mapping[int, str], since: datetime, now: datetime
) -> dict[str, RoleBook] | None:
    """The roles' books now; None when the terminal does not answer.

    Deals are read up to a day past ``now``: deal times are the broker's server time, which
    may run hours ahead of UTC, and no deal lies in the future.
    """
    positions = terminal.positions_get()
    deals = terminal.history_deals_get(since, now + timedelta(days=1))
    if positions is None or deals is None:
        return None
    return summarize_book(positions, deals, roles_by_magic)
