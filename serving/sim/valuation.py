"""The open positions and the account valued at a bar's quotes, updated on fills rather than
worked out on every call.

A replay asks for positions and the account many times per bar (the broker's plan, the
order check, the worker's book); the answers change only when a new bar brings new quotes
(``new_bar``) or the book moves (``Book.version``: a fill, a placed or a rejected order).
Within a bar a fill changes one or two positions (``Book.touched``): only those are valued
again, the others keep the tuple already made. Sums run over the positions in booking order,
as the terminal always added them, so the account's floats are the same to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter, itemgetter

from serving.mt5.types import AccountInfo, TradePosition
from serving.sim.account import Book, _Position
from serving.sim.fields import Funds, funds
from serving.sim.quotes import BarQuotes

Valued = tuple[TradePosition, float]
"""A position as ``positions_get`` shows it at the bar's quotes, and the margin it holds."""

# C-level getters: summing with them runs no Python frame per position
_POSITION, _MARGIN, _PROFIT = itemgetter(0), itemgetter(1), attrgetter("profit")


class Valuation:
    """Positions and account of ``book`` at ``quotes`` (the terminal hands a new
    ``BarQuotes`` to ``new_bar`` whenever the market moves).

    Args:
        book: the account's book.
        quotes: the quotes of the bar now.
        account: builds the ``AccountInfo`` from the balance, floating profit and margin.
    """

    def __init__(
        self,
        book: Book,
        quotes: BarQuotes,
        account: Callable[[float, float, float], AccountInfo],
    ) -> None:
        self._book, self._build_account = book, account
        self._quotes = quotes
        self._valued: dict[int, Valued] = {}
        """Ticket → the position valued at ``_quotes``. Invalidated: all by ``new_bar``; one
        ticket when the book reports it touched (a fill changed or closed it)."""
        self._version = -1
        """The ``Book.version`` the answers below were made at (-1: none made yet)."""
        self._rows: list[Valued] = []
        self._positions: tuple[TradePosition, ...] = ()
        self._by_symbol: dict[str, tuple[TradePosition, ...]] = {}
        """Symbol → its positions, each filled on first ask; emptied with every refresh."""
        self._account: AccountInfo | None = None
        self._funds: Funds | None = None
        """The account's money, made on first ask; dropped with the account by every refresh."""

    def new_bar(self, quotes: BarQuotes) -> None:
        """The market moved (``advance``, a shadow's new view): every position is valued
        afresh at ``quotes`` on the next ask."""
        self._quotes = quotes
        self._valued.clear()
        self._book.touched.clear()  # all of them are valued again anyway
        self._version = -1

    def _refresh(self) -> None:
        """Bring the answers up to the book: value the positions the book touched since the
        last look (and the ones not valued at this bar yet), keep the rest."""
        book, valued = self._book, self._valued
        for ticket in book.touched:
            valued.pop(ticket, None)
        book.touched.clear()
        rows = [valued[t] if t in valued else self._value(p) for t, p in book.positions.items()]
        self._rows, self._positions = rows, tuple(map(_POSITION, rows))
        self._by_symbol, self._account, self._funds = {}, None, None
        self._version = book.version

    def _value(self, pos: _Position) -> Valued:
        """``pos`` at the bar's quotes: closed at the bid (a buy) or the ask (a sell)."""
        bid, ask, value, margin = self._quotes.valuing(pos.symbol)
        sign, volume = pos.sign, pos.volume
        current = bid if sign > 0 else ask
        profit = (current - pos.price_open) * sign * volume * value
        row = (self._book.position_tuple(pos, current, profit), volume * margin)
        self._valued[pos.ticket] = row
        return row

    def positions(self) -> tuple[TradePosition, ...]:
        """The open positions valued at this bar's quotes, in booking order."""
        if self._version != self._book.version:
            self._refresh()
        return self._positions

    def positions_in(self, symbol: str) -> tuple[TradePosition, ...]:
        """The valued positions in ``symbol``, in booking order."""
        if self._version != self._book.version:
            self._refresh()
        by_symbol = self._by_symbol
        if symbol not in by_symbol:
            by_symbol[symbol] = tuple([p for p in self._positions if p.symbol == symbol])
        return by_symbol[symbol]

    def _totals(self) -> tuple[float, float, float]:
        """(balance, floating profit, margin held): profits and margins summed in booking
        order, as the terminal always added them."""
        profit = sum(map(_PROFIT, self._positions), 0.0)
        return self._book.balance, profit, sum(map(_MARGIN, self._rows))

    def account(self) -> AccountInfo:
        """The account at this bar's quotes and this book."""
        if self._version != self._book.version:
            self._refresh()
        account = self._account
        if account is None:
            account = self._account = self._build_account(*self._totals())
        return account

    def funds(self) -> Funds:
        """The account's money at this bar's quotes and this book: ``account()``'s figures,
        for the checks of every order."""
        if self._version != self._book.version:
            self._refresh()
        kept = self._funds
        if kept is None:
            kept = self._funds = funds(*self._totals())
        return kept
