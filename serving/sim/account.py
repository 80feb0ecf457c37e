"""SimTerminal's trade server: positions, orders and deals in netting or hedging mode.

Kept apart from the market replay so the accounting rules (netting: one position per
symbol that grows, shrinks or reverses; hedging: one position per opening order, closed by
naming its ticket) can be read on their own. Tickets follow MT5's habit: a position's ticket
and identifier are the ticket of the order that opened it. Orders that wait for latency sit
in ``pending`` (``orders_get``) until the terminal fills or rejects them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple, TypeVar

from serving.mt5 import constants as mt5
from serving.mt5.types import TradeDeal, TradeOrder, TradePosition, TradeRequest
from serving.sim.fields import by_position

_Record = TypeVar("_Record", TradeDeal, TradeOrder)
_DEAL_TIME: Callable[[TradeDeal], int] = attrgetter("time")
_ORDER_TIME: Callable[[TradeOrder], int] = attrgetter("time_done")


def _between(
    records: Sequence[_Record], key: Callable[[_Record], int], lo: int, hi: int, in_order: bool
) -> Sequence[_Record]:
    """The records with ``lo <= key(record) <= hi``, in the order they were booked: found by
    bisection while they were booked in time order (a replay's clock only moves on)."""
    if in_order:
        return records[bisect_left(records, lo, key=key) : bisect_right(records, hi, key=key)]
    return [r for r in records if lo <= key(r) <= hi]


@dataclass(slots=True)
class _Position:
    ticket: int
    identifier: int
    symbol: str
    type: int
    volume: float
    price_open: float
    magic: int
    comment: str
    time: int
    time_update: int
    sign: int
    """+1 a buy, -1 a sell: ``type`` as the valuation reads it on every bar (a field, not a
    property, so reading it runs no Python frame; a position never changes direction)."""


@dataclass(frozen=True)
class PendingOrder:
    """A market order accepted (10008 placed) but not yet filled: it waits for latency.

    Attributes:
        ticket: the order ticket ``order_send`` answered with.
        request: the validated request.
        time_setup: when it was placed, epoch seconds.
        due: replay index of the bar at whose open it fills (later if the symbol is closed).
    """

    ticket: int
    request: TradeRequest
    time_setup: int
    due: int


class Fill(NamedTuple):
    """What one market order did on the book (one order, one deal)."""

    order: int
    deal: int
    position: int
    volume: float
    price: float


@dataclass
class Book:
    """Positions and history of one account; profit is handed in by the terminal.

    ``version`` moves on with every change to the book (a fill, a placed or rejected order),
    so the terminal can keep a valuation until either the book or the bar changes;
    ``touched`` names the positions a fill changed or closed since the valuation last looked
    (it empties the set), so only those, and the ones opened since, are valued again.
    """

    hedging: bool
    balance: float
    next_ticket: int = 1_000_001
    positions: dict[int, _Position] = field(default_factory=dict)
    pending: dict[int, PendingOrder] = field(default_factory=dict)
    history_orders: list[TradeOrder] = field(default_factory=list)
    deals: list[TradeDeal] = field(default_factory=list)
    version: int = field(default=0, init=False)
    touched: set[int] = field(default_factory=set, init=False, repr=False)
    _orders_in_order: bool = field(default=True, init=False, repr=False)
    _deals_in_order: bool = field(default=True, init=False, repr=False)

    def deals_between(self, lo: int, hi: int) -> Sequence[TradeDeal]:
        """Deals with ``lo <= time <= hi``, in booking order."""
        return _between(self.deals, _DEAL_TIME, lo, hi, self._deals_in_order)

    def orders_between(self, lo: int, hi: int) -> Sequence[TradeOrder]:
        """History orders with ``lo <= time_done <= hi``, in booking order."""
        return _between(self.history_orders, _ORDER_TIME, lo, hi, self._orders_in_order)

    def _add_order(self, record: TradeOrder) -> None:
        last = self.history_orders[-1].time_done if self.history_orders else record.time_done
        self._orders_in_order = self._orders_in_order and record.time_done >= last
        self.history_orders.append(record)

    def _add_deal(self, deal: TradeDeal) -> None:
        last = self.deals[-1].time if self.deals else deal.time
        self._deals_in_order = self._deals_in_order and deal.time >= last
        self.deals.append(deal)

    def _ticket(self) -> int:
        self.next_ticket += 1
        return self.next_ticket - 1

    def find_netting(self, symbol: str) -> _Position | None:
        return next((p for p in self.positions.values() if p.symbol == symbol), None)

    def place(self, request: TradeRequest, time: int, due: int) -> int:
        """Accept a market order that fills later (latency); returns its order ticket."""
        ticket = self._ticket()
        self.pending[ticket] = PendingOrder(ticket, request, time, due)
        self.version += 1
        return ticket

    def reject(self, order: PendingOrder, time: int) -> None:
        """Drop a pending order the server refuses at fill time (history: rejected, no deal)."""
        del self.pending[order.ticket]
        self.version += 1
        self._add_order(
            self._order_record(
                order.request,
                order.ticket,
                0,
                time,
                time_setup=order.time_setup,
                state=mt5.ORDER_STATE_REJECTED,
            )
        )

    def execute(
        self,
        request: TradeRequest,
        price: float,
        time: int,
        commission: float,
        value_per_price_unit: float,
        *,
        order: PendingOrder | None = None,
        requested: float | None = None,
    ) -> Fill:
        """Book a filled market order: one history order, one deal, the position updated.

        Args:
            request: the validated request (type BUY or SELL, positive volume).
            price: the fill price.
            time: fill time, epoch seconds.
            commission: account-currency commission for this deal (<= 0).
            value_per_price_unit: account-currency value of a 1.0 price move for one lot
                (the terminal derives it from tick value / tick size).
            order: the pending order this fill completes (its ticket and setup time are
                kept); None for an order filled as it is sent.
            requested: the order's volume when ``request.volume`` is only part of it (10010:
                the history order shows it partially filled, the rest cancelled).
        """
        self.version += 1
        if order is None:
            order_ticket, time_setup = self.next_ticket, time
            self.next_ticket += 1  # ``_ticket()`` written out (every fill takes two tickets)
        else:
            del self.pending[order.ticket]
            order_ticket, time_setup = order.ticket, order.time_setup
        sign = 1 if request.type == mt5.ORDER_TYPE_BUY else -1
        if self.hedging:
            positions, wanted = self.positions, request.position
            target = positions[wanted] if wanted and wanted in positions else None
        else:
            target = self.find_netting(request.symbol)
        entry, profit, position_id = mt5.DEAL_ENTRY_IN, 0.0, order_ticket
        if target is None:
            self._open(request, order_ticket, sign, request.volume, price, time)
        elif target.sign == sign:
            self.touched.add(target.ticket)
            total = target.volume + request.volume
            target.price_open = (target.price_open * target.volume + price * request.volume) / total
            target.volume, target.time_update = round(total, 8), time
            position_id = target.identifier
        else:
            self.touched.add(target.ticket)
            position_id = target.identifier
            closed = min(target.volume, request.volume)
            profit = (price - target.price_open) * target.sign * closed * value_per_price_unit
            remainder = round(request.volume - target.volume, 8)
            if remainder < 0:
                target.volume, target.time_update = round(-remainder, 8), time
                entry = mt5.DEAL_ENTRY_OUT
            elif remainder == 0:
                del self.positions[target.ticket]
                entry = mt5.DEAL_ENTRY_OUT
            else:  # netting reversal: same identifier, new ticket, new direction
                del self.positions[target.ticket]
                pos = self._open(request, order_ticket, sign, remainder, price, time)
                pos.identifier = target.identifier
                entry = mt5.DEAL_ENTRY_INOUT
        deal_ticket = self.next_ticket
        self.next_ticket += 1
        self.balance += profit + commission
        record = self._order_record(request, order_ticket, position_id, time, time_setup=time_setup)
        if requested is not None:
            record = record._replace(
                state=mt5.ORDER_STATE_PARTIAL,
                volume_initial=requested,
                volume_current=round(requested - request.volume, 8),
            )
        # ``_add_order(record)`` and ``_add_deal(deal)`` written out (two calls a fill): the
        # order is done and the deal made at ``time``
        orders, deals = self.history_orders, self.deals
        self._orders_in_order = self._orders_in_order and (
            time >= orders[-1].time_done if orders else True
        )
        self._deals_in_order = self._deals_in_order and (time >= deals[-1].time if deals else True)
        orders.append(record)
        deals.append(
            by_position(  # a keyword call binding 18 names takes 3x the time
                TradeDeal,
                (
                    deal_ticket,  # ticket
                    order_ticket,  # order
                    time,
                    time * 1000,  # time_msc
                    mt5.DEAL_TYPE_BUY if sign > 0 else mt5.DEAL_TYPE_SELL,  # type
                    entry,
                    request.magic,
                    position_id,
                    mt5.DEAL_REASON_EXPERT,  # reason
                    request.volume,
                    price,
                    commission,
                    0.0,  # swap
                    round(profit, 2),  # profit
                    0.0,  # fee
                    request.symbol,
                    request.comment,
                    "",  # external_id
                ),
            )
        )
        return by_position(Fill, (order_ticket, deal_ticket, position_id, request.volume, price))

    def _open(
        self, request: TradeRequest, ticket: int, sign: int, volume: float, price: float, time: int
    ) -> _Position:
        pos = _Position(
            ticket=ticket,
            identifier=ticket,
            symbol=request.symbol,
            type=mt5.POSITION_TYPE_BUY if sign > 0 else mt5.POSITION_TYPE_SELL,
            volume=round(volume, 8),
            price_open=price,
            magic=request.magic,
            comment=request.comment,
            time=time,
            time_update=time,
            sign=sign,
        )
        self.positions[ticket] = pos
        return pos

    def pending_tuple(self, order: PendingOrder) -> TradeOrder:
        """The pending order as ``orders_get`` returns it (``position_id``: the position a
        hedging close names, 0 for an order that opens or nets)."""
        return self._order_record(
            order.request,
            order.ticket,
            order.request.position,
            0,
            time_setup=order.time_setup,
            state=mt5.ORDER_STATE_PLACED,
            volume_current=order.request.volume,
        )

    @staticmethod
    def _order_record(
        request: TradeRequest,
        ticket: int,
        position_id: int,
        time: int,
        *,
        time_setup: int,
        state: int = mt5.ORDER_STATE_FILLED,
        volume_current: float = 0.0,
    ) -> TradeOrder:
        return by_position(  # a keyword call binding 24 names takes 3x the time
            TradeOrder,
            (
                ticket,
                time_setup,
                time_setup * 1000,  # time_setup_msc
                time,  # time_done
                time * 1000,  # time_done_msc
                0,  # time_expiration
                request.type,
                request.type_time,
                request.type_filling,
                state,
                request.magic,
                position_id,
                0,  # position_by_id
                mt5.ORDER_REASON_EXPERT,  # reason
                request.volume,  # volume_initial
                volume_current,
                request.price,  # price_open
                request.sl,
                request.tp,
                request.price,  # price_current
                0.0,  # price_stoplimit
                request.symbol,
                request.comment,
                "",  # external_id
            ),
        )

    def position_tuple(self, pos: _Position, price_current: float, profit: float) -> TradePosition:
        """The position as ``positions_get`` returns it, valued at ``price_current``."""
        return by_position(  # a keyword call binding 19 names takes 3x the time
            TradePosition,
            (
                pos.ticket,
                pos.time,
                pos.time * 1000,  # time_msc
                pos.time_update,
                pos.time_update * 1000,  # time_update_msc
                pos.type,
                pos.magic,
                pos.identifier,
                mt5.POSITION_REASON_EXPERT,  # reason
                pos.volume,
                pos.price_open,
                0.0,  # sl
                0.0,  # tp
                price_current,
                0.0,  # swap
                round(profit, 2),  # profit
                pos.symbol,
                pos.comment,
                "",  # external_id
            ),
        )
