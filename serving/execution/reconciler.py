"""Where did an order go? Pure answers over what the terminal returned, and the book check.

After an unknown outcome (``order_send`` returned ``None``, 10011, 10012, 10031) the order
may or may not exist. ``find_trace`` decides from one ``TerminalView`` — the symbol's deals and
history orders since the send, its open orders and positions — and answers FILLED, PENDING,
ABSENT or UNRESOLVED. Only ABSENT allows a resend.

*Proven absent* means, exactly: every one of the four terminal calls answered (a ``None``
with an error proves nothing), the history window covers the send time (less ``SLACK``) up to
past the terminal's now, and none of these matched the order:

1. by order ticket, when an answer gave one: a deal of that order, an open order with that
   ticket (a placed order found cancelled/rejected/expired in history without a deal is
   ABSENT too: it reached the server and died there);
2. by comment (``t<intent>.<seq>``, exact) under the order's magic and symbol: a deal, an
   open order, a history order, or a position (which proves presence, not volume: on a
   netting account it holds other orders' lots too, so it answers UNRESOLVED);
3. by fingerprint, for brokers that rewrite or drop comments: a deal or open order of the
   same magic, symbol and side, volume at most the order's, not before the send, closing the
   same position (hedging close), whose order ticket the journal has not attributed to
   another order (``claimed``) and whose comment is not another of our order keys.

What stays ambiguous, and is answered UNRESOLVED (the order blocks its symbol and magic until
the terminal settles or an operator adopts its state): two or more fingerprint candidates
(two unknown orders of one side in one symbol with rewritten comments); a known ticket not yet
in the terminal's history; a history order filled, or a position carrying the comment, whose
deal lies outside the window. What no
query can rule out: a request still in flight inside the terminal when the view is read —
the broker waits ``settle_seconds`` before reading — and a manual trade under our magic with a
rewritten comment, which the fingerprint would take for ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from serving.execution.intents import PlannedOrder, looks_like_ours
from serving.mt5 import constants as mt5
from serving.mt5.lots import order_lots, position_lots
from serving.mt5.terminal import Terminal
from serving.mt5.types import TradeDeal, TradeOrder, TradePosition

_T = TypeVar("_T")

SLACK = 60
"""Seconds a deal may seem to precede its send (tick time vs server time granularity)."""

_DEAD_ORDER_STATES = frozenset(
    {mt5.ORDER_STATE_CANCELED, mt5.ORDER_STATE_REJECTED, mt5.ORDER_STATE_EXPIRED}
)
_EPS = 1e-9


class TraceKind(StrEnum):
    FILLED = "filled"
    PENDING = "pending"
    ABSENT = "absent"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class TerminalView:
    """One symbol as the terminal shows it: what absence must be proven against."""

    deals: tuple[TradeDeal, ...]
    history_orders: tuple[TradeOrder, ...]
    orders: tuple[TradeOrder, ...]
    positions: tuple[TradePosition, ...]


@dataclass(frozen=True)
class Trace:
    """What the terminal shows of one order.

    ``tickets`` lists every order ticket attributed to it: more than one means the order was
    duplicated (a resend after a wrong proof of absence) — logged loudly, never silent.
    """

    kind: TraceKind
    ticket: int = 0
    deal: int = 0
    volume: float = 0.0
    price: float = 0.0
    matched_by: str = ""
    reason: str = ""
    tickets: tuple[int, ...] = ()


def _deal_type(order: PlannedOrder) -> int:
    return mt5.DEAL_TYPE_BUY if order.buy else mt5.DEAL_TYPE_SELL


def _order_type(order: PlannedOrder) -> int:
    return mt5.ORDER_TYPE_BUY if order.buy else mt5.ORDER_TYPE_SELL


def _filled(deals: list[TradeDeal], matched_by: str) -> Trace:
    volume = round(sum(d.volume for d in deals), 8)
    price = sum(d.price * d.volume for d in deals) / volume if volume else 0.0
    tickets = tuple(sorted({d.order for d in deals}))
    reason = f"duplicate: orders {list(tickets)} carry one key" if len(tickets) > 1 else ""
    return Trace(
        TraceKind.FILLED,
        deals[0].order,
        deals[0].ticket,
        volume,
        price,
        matched_by,
        reason,
        tickets,
    )


def _by_ticket(ticket: int, view: TerminalView) -> Trace | None:
    deals = [d for d in view.deals if d.order == ticket]
    if deals:
        return _filled(deals, "ticket")
    for o in view.orders:
        if o.ticket == ticket:
            return Trace(TraceKind.PENDING, ticket, 0, o.volume_current, o.price_open, "ticket")
    for h in view.history_orders:
        if h.ticket == ticket and h.state in _DEAD_ORDER_STATES:
            why = f"order {ticket} ended in state {h.state} without a deal"
            return Trace(TraceKind.ABSENT, ticket, matched_by="ticket", reason=why)
    return None


def _by_comment(order: PlannedOrder, view: TerminalView) -> Trace | None:
    def mine(x: TradeDeal | TradeOrder | TradePosition) -> bool:
        return bool(x.magic == order.magic and x.symbol == order.symbol)

    deals = [d for d in view.deals if mine(d) and d.comment == order.comment]
    if deals:
        return _filled(deals, "comment")
    for o in view.orders:
        if mine(o) and o.comment == order.comment:
            return Trace(TraceKind.PENDING, o.ticket, 0, o.volume_current, o.price_open, "comment")
    for p in view.positions:
        if mine(p) and p.comment == order.comment:  # present, but how much is its own?
            why = f"position {p.ticket} carries the comment but no deal of it is in the window"
            return Trace(TraceKind.UNRESOLVED, matched_by="position", reason=why)
    history = [h for h in view.history_orders if mine(h) and h.comment == order.comment]
    if history and all(h.state in _DEAD_ORDER_STATES for h in history):
        why = f"order {history[0].ticket} ended in state {history[0].state} without a deal"
        return Trace(TraceKind.ABSENT, history[0].ticket, matched_by="comment", reason=why)
    if history:
        why = f"history order {history[0].ticket} is filled but its deal is not in the window"
        return Trace(TraceKind.UNRESOLVED, history[0].ticket, matched_by="comment", reason=why)
    return None


def _by_fingerprint(
    order: PlannedOrder, view: TerminalView, claimed: frozenset[int], since: int
) -> Trace | None:
    def candidate(
        x: TradeDeal | TradeOrder, same_side: bool, when: int, volume: float, position: int
    ) -> bool:
        return bool(
            same_side
            and x.magic == order.magic
            and x.symbol == order.symbol
            and when >= since
            and volume <= order.volume + _EPS
            and (order.position == 0 or position == order.position)
            and not looks_like_ours(x.comment)
        )

    deals: dict[int, list[TradeDeal]] = {}
    for d in view.deals:
        side = d.type == _deal_type(order)
        if d.order not in claimed and candidate(d, side, d.time, d.volume, d.position_id):
            deals.setdefault(d.order, []).append(d)
    pending = [
        o
        for o in view.orders
        if o.ticket not in claimed
        and o.ticket not in deals
        and candidate(
            o, o.type == _order_type(order), o.time_setup, o.volume_initial, o.position_id
        )
    ]
    found = len(deals) + len(pending)
    if found > 1:
        why = f"{found} orders match by fingerprint (magic, symbol, side, volume, time)"
        return Trace(TraceKind.UNRESOLVED, matched_by="fingerprint", reason=why)
    if deals:
        return _filled(next(iter(deals.values())), "fingerprint")
    if pending:
        o = pending[0]
        return Trace(TraceKind.PENDING, o.ticket, 0, o.volume_current, o.price_open, "fingerprint")
    return None


def find_trace(
    order: PlannedOrder,
    view: TerminalView | None,
    *,
    ticket: int = 0,
    sent_time: int,
    claimed: frozenset[int] = frozenset(),
) -> Trace:
    """Find ``order`` (sent at terminal time ``sent_time``, ``ticket`` if an answer gave one)
    in ``view``; ABSENT only when proven (see the module docstring), UNRESOLVED when the
    terminal did not answer or the evidence is ambiguous."""
    if view is None:
        return Trace(TraceKind.UNRESOLVED, ticket, reason="the terminal did not answer")
    if ticket:
        found = _by_ticket(ticket, view)
        if found is not None:
            return found
    found = _by_comment(order, view)
    if found is not None:
        return found
    found = _by_fingerprint(
        order, view, claimed - {ticket} if ticket else claimed, sent_time - SLACK
    )
    if found is not None:
        return found
    if ticket:
        why = f"order {ticket} was placed but is not in the terminal's history yet"
        return Trace(TraceKind.UNRESOLVED, ticket, reason=why)
    why = f"no deal, order or position by ticket, comment or fingerprint since {sent_time}"
    return Trace(TraceKind.ABSENT, reason=why)


def _answered(terminal: Terminal, value: tuple[_T, ...] | None) -> tuple[_T, ...] | None:
    """A history/orders call's answer: ``None`` with a success code is an empty answer."""
    if value is not None:
        return tuple(value)
    code = terminal.last_error()[0]
    return () if code == mt5.RES_S_OK else None


def read_view(terminal: Terminal, symbol: str, date_from: int, date_to: int) -> TerminalView | None:
    """The four calls ``find_trace`` needs, for one symbol; None when any of them failed."""
    deals = _answered(terminal, terminal.history_deals_get(date_from, date_to, group=symbol))
    history = _answered(terminal, terminal.history_orders_get(date_from, date_to, group=symbol))
    orders = _answered(terminal, terminal.orders_get(symbol=symbol))
    positions = _answered(terminal, terminal.positions_get(symbol=symbol))
    if deals is None or history is None or orders is None or positions is None:
        return None
    return TerminalView(deals, history, orders, positions)


def history_window(sent_time: int, terminal_now: int | None) -> tuple[int, int]:
    """The history range to read for an order sent at ``sent_time`` (terminal time): from a
    little before the send to a day past now (server time may run ahead of UTC)."""
    now = max(sent_time, terminal_now or sent_time)
    return sent_time - SLACK - 3_600, now + 86_400


def locate(
    terminal: Terminal,
    order: PlannedOrder,
    *,
    ticket: int,
    sent_time: int,
    claimed: frozenset[int] = frozenset(),
) -> Trace:
    """Read the order's symbol from the terminal and ``find_trace`` it there; an order with
    a known ticket is first asked for by ticket (its deals, or itself still open), the cheap
    question a pending order is followed with until its deal exists."""
    if ticket:
        deals = _answered(terminal, terminal.history_deals_get(ticket=ticket))
        if deals:
            return _filled(list(deals), "ticket")
        for o in _answered(terminal, terminal.orders_get(ticket=ticket)) or ():
            return Trace(TraceKind.PENDING, ticket, 0, o.volume_current, o.price_open, "ticket")
    tick = terminal.symbol_info_tick(order.symbol)
    lo, hi = history_window(sent_time, None if tick is None else int(tick.time))
    view = read_view(terminal, order.symbol, lo, hi)
    return find_trace(order, view, ticket=ticket, sent_time=sent_time, claimed=claimed)


# -- start-up: does the journal's book match the terminal's? ----------------------------------

Book = dict[tuple[str, int], float]


@dataclass(frozen=True)
class Disagreement:
    """A (symbol, magic) whose journaled and held lots differ."""

    symbol: str
    magic: int
    expected: float
    held: float

    def __str__(self) -> str:
        return (
            f"{self.symbol} magic {self.magic}: the journal expects {self.expected:+g} lots, "
            f"the terminal holds {self.held:+g} (positions and pending orders)"
        )


def terminal_book(
    positions: Iterable[TradePosition], orders: Iterable[TradeOrder], magics: Iterable[int]
) -> tuple[Book, tuple[TradePosition, ...]]:
    """Signed lots per (symbol, magic) of ours — positions plus pending market orders — and
    the positions of other magics (external: reported, left alone)."""
    ours, book, external = set(magics), Book(), list[TradePosition]()
    for p in positions:
        if p.magic not in ours:
            external.append(p)
            continue
        book[(p.symbol, p.magic)] = round(book.get((p.symbol, p.magic), 0.0) + position_lots(p), 8)
    for o in orders:
        if o.magic in ours and o.type in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL):
            book[(o.symbol, o.magic)] = round(book.get((o.symbol, o.magic), 0.0) + order_lots(o), 8)
    return book, tuple(external)


def compare_books(expected: Mapping[tuple[str, int], float], held: Book) -> list[Disagreement]:
    """Every (symbol, magic) where the journal and the terminal disagree, sorted."""
    keys = sorted(set(expected) | set(held))
    out = []
    for symbol, magic in keys:
        want, have = expected.get((symbol, magic), 0.0), held.get((symbol, magic), 0.0)
        if abs(want - have) > 1e-6:
            out.append(Disagreement(symbol, magic, round(want, 8), round(have, 8)))
    return out
