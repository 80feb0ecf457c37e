"""What each role holds and has made, told apart by magic number.

One ``positions_get()`` and one ``history_deals_get(day_start, …)`` per bar give every role's
signed lots per symbol, its floating profit (profit + swap of its open positions) and what it
realised since the trading day began (profit + commission + swap + fee of its deals, entries
included, since commission is charged on the way in). The numbers feed the position and PnL
gauges and the daily-loss breaker. ``summarize_book`` is the pure part; ``read_book`` the two
terminal calls; ``BookReader`` the worker's per-bar reader, which adds up only the deals it has
not counted yet (the day's history grows by a few deals a bar and was summed whole every bar).
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
    """The roles' books now; None when the terminal does not answer (a one-off
    ``BookReader.read``)."""
    return BookReader().read(terminal, roles_by_magic, since, now)


class BookReader:
    """Reads the roles' books bar after bar, tallying the day's realised profit as deals come.

    The realised figures are kept with the deals they sum, in the terminal's order. The next
    answer that *begins with exactly those deals* (equal tuples, in the same order, under the
    same roles) only adds its newer deals to the tally: the same additions in the same order
    as ``summarize_book`` makes over the whole answer, so the same floats bit for bit. Any
    other answer (a new trading day's window, a deal gone or reordered, other roles) is
    summed afresh. Deals are compared as values (MT5's named tuples), so nothing but the
    answer itself invalidates the tally.
    """

    def __init__(self) -> None:
        self._deals: tuple[TradeDeal, ...] = ()  # the deals the tally holds, in order
        self._roles: dict[int, str] = {}  # the roles they were summed under
        self._realised: dict[str, float] = {}

    def read(
        self,
        terminal: Terminal,
        roles_by_magic: Mapping[int, str],
        since: datetime,
        now: datetime,
    ) -> dict[str, RoleBook] | None:
        """The roles' books now; None when the terminal does not answer.

        Deals are read up to a day past ``now``: deal times are the broker's server time,
        which may run hours ahead of UTC, and no deal lies in the future.
        """
        positions = terminal.positions_get()
        deals = terminal.history_deals_get(since, now + timedelta(days=1))
        if positions is None or deals is None:
            return None
        books = summarize_book(positions, (), roles_by_magic)
        realised = self._tally(tuple(deals), roles_by_magic)
        for role, book in books.items():
            book.realised = realised[role]
        return books

    def _tally(self, deals: tuple[TradeDeal, ...], roles: Mapping[int, str]) -> dict[str, float]:
        """Each role's realised profit over ``deals``, adding only those not counted yet."""
        counted = len(self._deals)
        if roles != self._roles or deals[:counted] != self._deals:
            self._roles = dict(roles)
            self._realised = dict.fromkeys(roles.values(), 0.0)
            counted = 0
        realised = self._realised
        for d in deals[counted:]:
            role = roles.get(d.magic)
            if role is not None:
                realised[role] += d.profit + d.commission + d.swap + d.fee
        self._deals = deals
        return realised
