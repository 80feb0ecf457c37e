"""What live trading looks like to a person: trades, positions and a status per account and role.

Pure: built from typed journal records (``serving.execution.records``) and plain rows that
``flows.cli_views`` reads, and rendered as text tables (``rich``, into a string, so a test reads
exactly what a person sees) or as JSON-ready dicts for scripts. Nothing here opens the journal.

Windows ("last hour", "last day") end at the newest bar the journal saw for that account, not
at the wall clock: a replay's bars are historic, and a live worker's newest bar is "now".
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from serving.execution.records import IntentRecord, OrderRecord

HELD_STATES = frozenset({"filled", "partial", "adopted"})
"""Order states whose ``filled_volume`` was dealt (``serving.execution.intents``)."""

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Trade:
    """One filled order, with the role and bar of the intent that asked for it."""

    at: datetime
    account: str
    role: str
    symbol: str
    side: str  # "buy" | "sell"
    volume: float  # lots dealt
    price: float
    ticket: int
    deal: int
    intent_id: str
    state: str


@dataclass(frozen=True)
class Position:
    """Net lots the journal's fills add up to, per account, role and symbol."""

    account: str
    role: str
    symbol: str
    lots: float  # signed: + long, - short
    average_price: float | None  # of the fills in the position's direction
    last_price: float


@dataclass(frozen=True)
class Breaker:
    """A breaker's last trip or reset on one account."""

    name: str
    tripped: bool
    reason: str
    at: datetime


@dataclass(frozen=True)
class RoleStatus:
    """What one role of one account did, as the journal tells it."""

    account: str
    role: str
    model: str
    version: str
    last_bar: datetime | None
    decisions_hour: int
    decisions_day: int
    orders_hour: int
    orders_day: int


@dataclass(frozen=True)
class AccountStatus:
    """One account: its roles, breakers, whether it refuses to trade, its positions."""

    account: str
    newest_bar: datetime | None
    roles: list[RoleStatus]
    breakers: list[Breaker]
    refused: str | None  # why trading is refused, None when it is not
    positions: list[Position] = field(default_factory=list)


def trades_of(orders: Iterable[OrderRecord], intents: Mapping[str, IntentRecord]) -> list[Trade]:
    """Filled orders as trades, oldest first; the role comes from the order's intent."""
    found = []
    for order in orders:
        if order.state not in HELD_STATES or order.filled_volume <= 0:
            continue
        intent = intents.get(order.intent_id)
        found.append(
            Trade(
                at=order.updated_at,
                account=order.account,
                role=intent.role if intent is not None else "?",
                symbol=order.symbol,
                side="buy" if order.side > 0 else "sell",
                volume=order.filled_volume,
                price=order.price,
                ticket=order.ticket,
                deal=order.deal,
                intent_id=order.intent_id,
                state=order.state,
            )
        )
    return sorted(found, key=lambda t: (t.at, t.ticket))


def select_trades(
    trades: Sequence[Trade], *, last: int | None, role: str | None, symbol: str | None
) -> list[Trade]:
    """The newest ``last`` trades of ``role`` and ``symbol`` (when given), oldest first."""
    chosen = [
        t
        for t in trades
        if (role is None or t.role == role) and (symbol is None or t.symbol == symbol)
    ]
    return chosen[-last:] if last else chosen


def signed_volume(trade: Trade) -> float:
    """The trade's lots, + bought, - sold."""
    return trade.volume if trade.side == "buy" else -trade.volume


def apply_fill(lots: float, average: float, trade: Trade) -> tuple[float, float, float]:
    """One fill on a position of ``lots`` (signed) opened at ``average``: the lots after,
    their average opening price, and the price move it realised (closed lots × (fill price −
    average), signed for the closed side; 0 when it only opened or added)."""
    signed = signed_volume(trade)
    after = round(lots + signed, 8)
    closed = 0.0 if lots == 0 or (lots > 0) == (signed > 0) else min(abs(signed), abs(lots))
    realised = closed * (trade.price - average) * (1.0 if lots > 0 else -1.0)
    if lots == 0 or ((lots > 0) != (after > 0) and after != 0):
        average = trade.price  # opened, or flipped to the other side
    elif (lots > 0) == (signed > 0):  # added to the position
        average = (average * abs(lots) + trade.price * abs(signed)) / abs(after)
    return after, average, realised


def positions_of(trades: Iterable[Trade]) -> list[Position]:
    """Net lots per (account, role, symbol), flat ones left out, with the average price of
    the fills that opened the remaining side (fills are replayed in order)."""
    book: dict[tuple[str, str, str], tuple[float, float, float]] = {}  # lots, avg, last
    for t in trades:
        key = (t.account, t.role, t.symbol)
        lots, average, _ = book.get(key, (0.0, 0.0, 0.0))
        after, average, _closed = apply_fill(lots, average, t)
        book[key] = (after, average, t.price)
    return [
        Position(account, role, symbol, lots, average if lots else None, last)
        for (account, role, symbol), (lots, average, last) in sorted(book.items())
        if lots != 0
    ]


def breakers_of(rows: Iterable[Mapping[str, Any]]) -> list[Breaker]:
    """Each breaker's state from its trip and reset events (oldest first): the last one wins."""
    last: dict[str, Breaker] = {}
    for row in rows:
        if row["event"] not in ("trip", "reset"):
            continue
        tripped = row["event"] == "trip"
        last[row["breaker"]] = Breaker(row["breaker"], tripped, str(row["reason"]), row["at"])
    return sorted(last.values(), key=lambda b: b.name)


def role_status(
    account: str,
    role: str,
    decisions: Sequence[Mapping[str, Any]],
    order_times: Sequence[datetime],
    newest_bar: datetime | None,
) -> RoleStatus:
    """One role's status from its decisions (``bar_time``, ``model_name``, ``model_version``,
    oldest first) and its orders' times, counted in windows ending at ``newest_bar``."""
    latest = decisions[-1] if decisions else None

    def within(times: Iterable[datetime], span: timedelta) -> int:
        return 0 if newest_bar is None else sum(1 for t in times if t > newest_bar - span)

    bars = [d["bar_time"] for d in decisions]
    return RoleStatus(
        account=account,
        role=role,
        model="" if latest is None else str(latest["model_name"]),
        version="" if latest is None else str(latest["model_version"]),
        last_bar=None if latest is None else latest["bar_time"],
        decisions_hour=within(bars, HOUR),
        decisions_day=within(bars, DAY),
        orders_hour=within(order_times, HOUR),
        orders_day=within(order_times, DAY),
    )


def refusal(breakers: Sequence[Breaker], newest_intent_state: str | None) -> str | None:
    """Why the account refuses to trade: a tripped breaker, or start-up reconciliation."""
    tripped = [b.name for b in breakers if b.tripped]
    if tripped:
        return "breaker tripped: " + ", ".join(tripped)
    if newest_intent_state == "refused":
        return "the journal and the terminal disagree (start-up reconciliation)"
    return None


def render_table(table: Table) -> str:
    """A ``rich`` table as plain text, 160 columns, no colour, blank lines left out."""
    out = io.StringIO()
    Console(file=out, width=160, color_system=None, force_terminal=False).print(table)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    return "\n".join(line for line in lines if line) + "\n"  # no padding for grep or diff


def utc_text(value: datetime | None) -> str:
    """A UTC time as a person reads it ("-" when there is none)."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def text_table(title: str | None, columns: Sequence[str]) -> Table:
    """An empty table with tate's look: simple box, title on the left, no wrapping."""
    table = Table(title=title, box=box.SIMPLE, title_justify="left")
    for name in columns:
        table.add_column(name, no_wrap=True)
    return table


def format_trades(trades: Sequence[Trade]) -> str:
    """Trades as a text table (UTC times)."""
    if not trades:
        return "no trades in the journal\n"
    table = text_table(None, ["time (UTC)", "account", "role", "symbol", "side", "lots", "price"])
    for name in ("ticket", "intent"):
        table.add_column(name, no_wrap=True)
    for t in trades:
        table.add_row(
            utc_text(t.at), t.account, t.role, t.symbol, t.side, f"{t.volume:g}",
            f"{t.price:.5f}", str(t.ticket), t.intent_id,
        )  # fmt: skip
    return render_table(table)


def format_positions(positions: Sequence[Position]) -> str:
    """Open positions as a text table."""
    if not positions:
        return "no open positions in the journal\n"
    table = text_table(None, ["account", "role", "symbol", "lots", "average price", "last fill"])
    for p in positions:
        average = "-" if p.average_price is None else f"{p.average_price:.5f}"
        table.add_row(p.account, p.role, p.symbol, f"{p.lots:+g}", average, f"{p.last_price:.5f}")
    return render_table(table)


def format_status(accounts: Sequence[AccountStatus]) -> str:
    """Every account: trading or refused, breakers, roles, positions; one block each (what
    to do about a refusal is ``flows.status_view.next_steps``)."""
    if not accounts:
        return "the journal holds no decisions yet: no worker has traded on this home\n"
    blocks = []
    for a in accounts:
        verdict = f"REFUSED ({a.refused})" if a.refused else "trading"
        head = (
            f"account {a.account or '(none)'}: {verdict}; newest bar {utc_text(a.newest_bar)} UTC"
        )
        roles = text_table("roles (windows end at the newest bar)", [
            "role", "model", "version", "last bar (UTC)", "decisions 1h", "decisions 24h",
            "orders 1h", "orders 24h",
        ])  # fmt: skip
        for r in a.roles:
            roles.add_row(
                r.role, r.model, r.version, utc_text(r.last_bar), str(r.decisions_hour),
                str(r.decisions_day), str(r.orders_hour), str(r.orders_day),
            )  # fmt: skip
        breakers = text_table("breakers", ["breaker", "state", "since (UTC)", "reason"])
        for b in a.breakers:
            state = "TRIPPED" if b.tripped else "ok"
            breakers.add_row(b.name, state, utc_text(b.at), b.reason)
        parts = [head + "\n", render_table(roles)]
        parts.append(render_table(breakers) if a.breakers else "breakers: none ever tripped\n")
        parts.append(format_positions(a.positions))
        blocks.append("\n".join(parts))
    return "\n".join(blocks)


def as_json(value: Any) -> Any:
    """Dataclasses (and lists of them) as JSON-ready values, times as ISO strings."""
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return as_json(asdict(value))
    return value
