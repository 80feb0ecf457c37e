"""PositionPlanner: what one magic number holds in a symbol, and the orders that move it.

The half of ``Mt5Broker`` (``serving.execution.broker``) that only reads the terminal: this
magic's positions and pending market orders, the account's margin mode, and from them the
orders (``PlannedOrder``) that bring the net position to a target. It never sends anything;
the broker, which is one, does.

Orders still pending (answered 10008, e.g. under latency) count as already held, so a
repeated target never doubles the exposure in flight. On a netting account one order moves
the position; on a hedging one the opposite positions are closed oldest first (less what
pending orders already close) and a new one opens for what is left.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import attrgetter

from serving.execution.events import round_volume
from serving.execution.intents import PlannedOrder, planned
from serving.mt5 import constants as mt5
from serving.mt5.lots import order_lots, position_lots
from serving.mt5.terminal import Terminal
from serving.mt5.types import SymbolInfo, TradeOrder, TradePosition

_TICKET = attrgetter("ticket")


def legs(
    delta: float,
    hedging: bool,
    positions: Sequence[TradePosition],
    pending: Sequence[TradeOrder],
) -> list[tuple[bool, float, int]]:
    """(buy, lots, position) legs that move the net position by ``delta``: netting needs
    one; hedging closes opposite ``positions`` (this magic's, oldest first, less what its
    ``pending`` orders already close) and opens a new one for what is left."""
    legs: list[tuple[bool, float, int]] = []
    remaining = delta
    if hedging:
        closing: dict[int, float] = {}
        for order in pending:
            if order.position_id:
                closing[order.position_id] = (
                    closing.get(order.position_id, 0.0) + order.volume_current
                )
        for pos in positions:
            free = round(pos.volume - closing.get(pos.ticket, 0.0), 8)
            if abs(remaining) < 1e-9 or position_lots(pos) * remaining > 0 or free <= 0:
                continue
            closed = min(free, abs(remaining))
            legs.append((remaining > 0, closed, pos.ticket))
            remaining = round(remaining - math.copysign(closed, remaining), 8)
    if abs(remaining) > 1e-9:
        legs.append((remaining > 0, abs(remaining), 0))
    return legs


class PositionPlanner:
    """Reads what ``magic`` holds on ``terminal`` and plans the orders to a target.

    Args:
        terminal: the MetaTrader5 module, an mt5linux bridge or a SimTerminal.
        magic: whose positions and orders count; other magics' are never touched.
    """

    def __init__(self, terminal: Terminal, magic: int) -> None:
        self.terminal, self.magic = terminal, magic
        self._hedging: bool | None = None  # the account's margin mode, once read (``_hedges``)

    # -- what this magic holds -----------------------------------------------------------
    def _own_positions(self, symbol: str) -> list[TradePosition]:
        """This magic's positions, oldest (lowest ticket) first. Asked once per decision, and
        most plans hold none or one: a plain loop (no comprehension's frame) and no sort for
        one (a stable sort of one is itself)."""
        own: list[TradePosition] = []
        magic = self.magic
        for position in self.terminal.positions_get(symbol=symbol) or ():
            if position.magic == magic:
                own.append(position)
        if len(own) > 1:
            own.sort(key=_TICKET)
        return own

    def net_position(self, symbol: str) -> float:
        """Signed lots held under this magic (buy positive)."""
        return round(sum(position_lots(p) for p in self._own_positions(symbol)), 8)

    def _own_pending(self, symbol: str) -> list[TradeOrder]:
        """This magic's market orders placed (10008) but not filled yet: exposure in flight."""
        orders = self.terminal.orders_get(symbol=symbol)
        if not orders:  # nearly always: a market order without latency fills at once
            return []
        market = (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL)
        return [o for o in orders if o.magic == self.magic and o.type in market]

    def pending_volume(self, symbol: str) -> float:
        """Signed lots of this magic's pending market orders (buy positive)."""
        return round(sum(order_lots(o) for o in self._own_pending(symbol)), 8)

    # -- planning ------------------------------------------------------------------------
    def plan(
        self, symbol: str, target_volume: float, *, intent_id: str, first_seq: int = 0
    ) -> list[PlannedOrder] | None:
        """The orders that bring this magic's net position to ``target_volume`` lots (None
        when the symbol cannot be read).

        Orders still pending (answered 10008, e.g. under latency) count as already held, so a
        repeated target never doubles the exposure in flight; a changed one sends only the
        difference. Volumes are on the symbol's step and within its limits.
        """
        info = self.terminal.symbol_info(symbol)
        if info is None:
            return None
        return self._plan(info, symbol, target_volume, intent_id, first_seq)

    def _plan(
        self, info: SymbolInfo, symbol: str, target_volume: float, intent_id: str, first_seq: int
    ) -> list[PlannedOrder]:
        step, vmin, vmax = info.volume_step, info.volume_min, info.volume_max
        target = round_volume(target_volume, step, vmin, vmax)
        positions, pending = self._own_positions(symbol), self._own_pending(symbol)  # read once
        held = 0.0  # most plans hold nothing of a symbol, or one position, and nothing pending
        if positions:
            held = round(sum(map(position_lots, positions)), 8)
        if pending:
            held += round(sum(map(order_lots, pending)), 8)
        delta = round(target - held, 8)
        if abs(delta) < step / 2:
            return []
        orders: list[PlannedOrder] = []
        for buy, lots, position in legs(delta, self._hedges(), positions, pending):
            volume = abs(round_volume(lots, step, vmin, vmax))
            if volume:
                seq = first_seq + len(orders)
                orders.append(planned(intent_id, seq, symbol, self.magic, buy, volume, position))
        return orders

    def _hedges(self) -> bool:
        """Whether the account keeps positions apart (hedging), read from ``account_info``
        once: MT5 fixes an account's margin mode when the account is opened, and a broker
        serves one terminal's account for its life. A terminal that does not answer counts as
        netting for this plan and is asked again next time (nothing is kept)."""
        if self._hedging is None:
            account = self.terminal.account_info()
            if account is None:
                return False
            self._hedging = account.margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        return self._hedging
