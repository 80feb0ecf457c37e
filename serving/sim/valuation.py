"""The open positions and the account valued at a bar's quotes, kept until the bar or the
book moves.

A replay asks for positions and the account many times per bar (the broker's plan, the
order check, the worker's book); the answers change only when a new bar brings new quotes or
a fill, a placed or a rejected order moves the book (``Book.version``). Within a bar, a fill
changes one position: the others keep the tuple already valued.
"""

from __future__ import annotations

from collections.abc import Callable

from serving.mt5.types import AccountInfo, TradePosition
from serving.sim.account import Book
from serving.sim.quotes import BarQuotes

PositionState = tuple[int, int, float, float, int]
"""What a valued position depends on besides the quotes: ticket, identifier, volume, open
price and update time."""


class Valuation:
    """Positions and account of ``book`` at the quotes ``quotes()`` returns (a new
    ``BarQuotes`` object per bar).

    Args:
        book: the account's book.
        quotes: the quotes of the bar now.
        account: builds the ``AccountInfo`` from the balance, floating profit and margin.
    """

    def __init__(
        self,
        book: Book,
        quotes: Callable[[], BarQuotes],
        account: Callable[[float, float, float], AccountInfo],
    ) -> None:
        self._book, self._quotes, self._build_account = book, quotes, account
        self._at: tuple[BarQuotes, int] | None = None  # what the positions were valued at
        self._positions: tuple[TradePosition, ...] = ()
        self._valued_as: dict[PositionState, TradePosition] = {}
        self._by_symbol: dict[str, tuple[TradePosition, ...]] | None = None
        self._account: AccountInfo | None = None

    def positions(self) -> tuple[TradePosition, ...]:
        """The open positions valued at this bar's quotes, in booking order."""
        quotes = self._quotes()
        at = (quotes, self._book.version)
        if self._at != at:
            same_bar = self._at is not None and self._at[0] is quotes
            kept = self._valued_as if same_bar else {}
            self._valued_as, out = {}, []
            for pos in self._book.positions.values():
                state = (pos.ticket, pos.identifier, pos.volume, pos.price_open, pos.time_update)
                valued = kept.get(state)
                if valued is None:
                    bid, ask = quotes.quote(pos.symbol)
                    current = bid if pos.sign > 0 else ask
                    value = quotes.value_per_price_unit(pos.symbol)
                    profit = (current - pos.price_open) * pos.sign * pos.volume * value
                    valued = self._book.position_tuple(pos, current, profit)
                self._valued_as[state] = valued
                out.append(valued)
            self._positions, self._by_symbol, self._account = tuple(out), None, None
            self._at = at
        return self._positions

    def positions_in(self, symbol: str) -> tuple[TradePosition, ...]:
        """The valued positions in ``symbol``, in booking order."""
        valued = self.positions()
        if self._by_symbol is None:
            grouped: dict[str, list[TradePosition]] = {}
            for p in valued:
                grouped.setdefault(p.symbol, []).append(p)
            self._by_symbol = {s: tuple(ps) for s, ps in grouped.items()}
        return self._by_symbol.get(symbol, ())

    def account(self) -> AccountInfo:
        """The account at this bar's quotes and this book."""
        valued, quotes = self.positions(), self._quotes()
        if self._account is None:
            profit = sum((p.profit for p in valued), 0.0)
            margin = sum(p.volume * quotes.margin_per_lot(p.symbol) for p in valued)
            self._account = self._build_account(self._book.balance, profit, margin)
        return self._account
