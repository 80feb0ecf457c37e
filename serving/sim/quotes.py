"""What SimTerminal quotes at one bar: bid and ask, ticks, symbol infos, value and margin per lot.

A replay asks for these many times per bar — the worker's watch and sizing, the broker's plan,
``order_check`` and ``order_send``, the account's valuation of every open position — while
they only move when the bar does. ``BarQuotes`` works each out on first ask and keeps it for
its bar; the terminal starts a new one when its replay moves on, or (a shadow terminal) is
replaced by a new view of the market. The answers are the tuples and numbers the terminal
would compute on every call.
"""

from __future__ import annotations

from collections.abc import Mapping

from data_contracts.symbols import SymbolSpec, lot_notional, tick_value
from models.costs import CostModel, range_points
from serving.mt5.types import SymbolInfo, Tick
from serving.sim.fields import by_position, symbol_info_tuple
from serving.sim.market import Replay


class BarQuotes:
    """The quotes of ``replay``'s current bar, worked out on first ask.

    Nothing here is ever invalidated in place: the whole object is the bar's, and
    ``SimTerminal._market_moved`` (``advance``, a shadow's new view) replaces it. A fill does
    not move a quote.

    Args:
        replay: the market; its cursor at construction is the bar quoted.
        specs: symbol specifications by name.
        currency, leverage: the account's, for tick values and margins.
        costs: the shared cost model, for the slippage of a market order.
        slips: the replay's slippage table, kept across bars (default: a new one).
    """

    def __init__(
        self,
        replay: Replay,
        specs: Mapping[str, SymbolSpec],
        currency: str,
        leverage: int,
        costs: CostModel,
        slips: SlippageTable | None = None,
    ) -> None:
        self.replay, self.cursor, self.now = replay, replay.cursor, replay.now
        self.slips = slips if slips is not None else SlippageTable(replay, specs, costs)
        self.specs, self.currency, self.leverage, self.costs = specs, currency, leverage, costs
        self._quotes: dict[str, tuple[float, float]] = {}
        self.ticks: dict[str, Tick] = {}
        """Symbol → its ``tick()`` made at this bar: the terminal looks an answer up here
        before it asks ``tick()`` (a call fewer per ask). Read it, never write it."""
        self.infos: dict[str, SymbolInfo] = {}
        """Symbol → its ``info()`` made at this bar, read as ``ticks`` is."""
        self._tick_values: dict[str, float] = {}
        self._values: dict[str, float] = {}
        self._margins: dict[str, float] = {}
        self._terms: dict[str, tuple[float, float, float, float]] = {}
        self._fills: dict[str, tuple[float, float, float, float]] = {}

    # Each answer is looked up with ``in`` and a subscript rather than ``dict.get``: the same
    # time, and no call for the replay's profiler to count ~100 times a bar. An answer made
    # from another looks that one up the same way before it asks for it (usually kept by
    # then): a call fewer per answer made.
    def quote(self, symbol: str) -> tuple[float, float]:
        """(bid, ask): the bar's price and ask = bid + spread × point, on the symbol's digits."""
        kept = self._quotes
        if symbol in kept:
            return kept[symbol]
        bid, spread = self.replay.price(symbol)
        spec = self.specs[symbol]
        quote = kept[symbol] = (bid, round(bid + spread * spec.point, spec.digits))
        return quote

    def tick(self, symbol: str) -> Tick:
        """``symbol_info_tick()`` now."""
        kept = self.ticks
        if symbol in kept:
            return kept[symbol]
        quotes = self._quotes
        bid, ask = quotes[symbol] if symbol in quotes else self.quote(symbol)
        now = self.now
        tick = kept[symbol] = by_position(Tick, (now, bid, ask, 0.0, 0, now * 1000, 6, 0.0))
        return tick

    def info(self, symbol: str) -> SymbolInfo:
        """``symbol_info()`` now: the spec with the quote, spread and tick value of the bar."""
        kept = self.infos
        if symbol in kept:
            return kept[symbol]
        quotes, values = self._quotes, self._tick_values
        bid, ask = quotes[symbol] if symbol in quotes else self.quote(symbol)
        spec = self.specs[symbol]
        spread = round((ask - bid) / spec.point)
        value = values[symbol] if symbol in values else self.value_per_tick(symbol)
        info = kept[symbol] = symbol_info_tuple(spec, bid, ask, spread, self.now, value)
        return info

    def value_per_tick(self, symbol: str) -> float:
        """Account-currency value of one tick for one lot, at the bar's bid (``symbol_info``
        shows it; the value of a price unit is made from it)."""
        kept = self._tick_values
        if symbol in kept:
            return kept[symbol]
        quotes = self._quotes
        bid = quotes[symbol][0] if symbol in quotes else self.quote(symbol)[0]
        value = kept[symbol] = tick_value(self.specs[symbol], bid, self.currency)
        return value

    def value_per_price_unit(self, symbol: str) -> float:
        """Account-currency value of a 1.0 price move for one lot, at the bar's bid."""
        kept = self._values
        if symbol in kept:
            return kept[symbol]
        values = self._tick_values
        per_tick = values[symbol] if symbol in values else self.value_per_tick(symbol)
        value = kept[symbol] = per_tick / self.specs[symbol].trade_tick_size
        return value

    def margin_per_lot(self, symbol: str) -> float:
        """Account-currency margin one lot holds: the lot's notional for its calc mode (a
        currency pair's base units, a CFD's contract × price) in the account currency /
        leverage."""
        kept = self._margins
        if symbol in kept:
            return kept[symbol]
        quotes = self._quotes
        bid = quotes[symbol][0] if symbol in quotes else self.quote(symbol)[0]
        spec = self.specs[symbol]
        margin = kept[symbol] = float(lot_notional(spec, bid, self.currency)) / self.leverage
        return margin

    def valuing(self, symbol: str) -> tuple[float, float, float, float]:
        """(bid, ask, value per price unit, margin per lot): what valuing a position needs,
        in one look-up (the account values every open position on every new bar)."""
        kept = self._terms
        if symbol in kept:
            return kept[symbol]
        quotes, values, margins = self._quotes, self._values, self._margins
        bid, ask = quotes[symbol] if symbol in quotes else self.quote(symbol)
        value = values[symbol] if symbol in values else self.value_per_price_unit(symbol)
        margin = margins[symbol] if symbol in margins else self.margin_per_lot(symbol)
        terms = kept[symbol] = (bid, ask, value, margin)
        return terms

    def filling(self, symbol: str) -> tuple[float, float, float, float]:
        """(bid, ask, slippage, value per price unit): what filling a market order needs, in
        one look-up (several orders of a bar may fill in one symbol). The slippage is how far
        a market order fills against the trader now, in price: the cost model's slippage
        points for the symbol's last closed bar's range (``models.costs``)."""
        kept = self._fills
        if symbol in kept:
            return kept[symbol]
        quotes, values = self._quotes, self._values
        bid, ask = quotes[symbol] if symbol in quotes else self.quote(symbol)
        slip = self.slips.after(symbol, self.replay.last_closed_index(symbol))
        value = values[symbol] if symbol in values else self.value_per_price_unit(symbol)
        terms = kept[symbol] = (bid, ask, slip, value)
        return terms


class SlippageTable:
    """The slippage of a market order after each bar of a replay, in price, worked out for
    ``CHUNK`` bars of a symbol at a time on first ask.

    One vectorized ``CostModel.slippage_points`` call per chunk replaces a handful of numpy
    scalar operations per order; the formula is elementwise, so the numbers are the same.
    A chunk (not the whole history) keeps a shadow terminal, which sees a new replay every
    bar, from paying for its history on every bar.
    """

    CHUNK = 256

    def __init__(self, replay: Replay, specs: Mapping[str, SymbolSpec], costs: CostModel) -> None:
        self.replay, self.specs, self.costs = replay, specs, costs
        self._rows: dict[str, list[float | None]] = {}

    def after(self, symbol: str, row: int) -> float:
        """Slippage in price for a fill after bar ``row`` of ``symbol`` closed (-1: none has;
        the range counts as 0)."""
        point = self.specs[symbol].point
        if row < 0:
            return float(self.costs.slippage_points(0.0)) * point
        rows = self._rows.get(symbol)
        if rows is None:
            rows = self._rows[symbol] = []
        if row >= len(rows):  # a new table, or a replay its feed has made longer
            rows.extend([None] * (len(self.replay.rates[symbol]) - len(rows)))
        slip = rows[row]
        if slip is None:
            bars = self.replay.rates[symbol][row : row + self.CHUNK]
            points = self.costs.slippage_points(range_points(bars["high"], bars["low"], point))
            rows[row : row + len(bars)] = (points * point).tolist()
            slip = rows[row]
            assert slip is not None
        return slip
