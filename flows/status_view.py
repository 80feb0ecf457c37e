"""`tate status` as one screen: is the stack up, what trades, is anything wrong, what to do.

Pure: ``flows.status_facts`` gathers the facts (HTTP probes, the registry, the journal, the
reports' JSON) into a ``StatusFacts``; this module computes today's PnL and the error budgets
from journal rows, decides the "what to do next" lines, and renders the screen (``rich``,
into a string, so a test reads exactly what a person sees) or the same facts as JSON.

"Today" is the UTC day of the newest bar the journal saw for the account (or of its newest
fill, which comes at a bar's close, so after midnight for the day's last bar), as the activity
windows of ``flows.trading_view`` end at that bar, not at the wall clock: a replay's bars are
historic, and a live worker's newest bar is "now". The error budgets' window ends at that
bar too and spans ``TATE_SLO_WINDOW_DAYS``.

Money is in each account's own currency, as its worker journaled it at start-up (the
``accounts`` table, revision 0007). A journal that does not say (written before that revision,
and no worker started on the account since) is valued in ``ASSUMED_CURRENCY`` and the screen
says so, once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from rich.table import Table

from flows.reports_home import stamp_time
from flows.trading_view import (
    AccountStatus,
    Trade,
    apply_fill,
    as_json,
    format_status,
    render_table,
    text_table,
    utc_text,
)
from flows.worker_view import format_worker
from models.slo import BudgetStatus, execution_budget, latency_budget

ValuePerPrice = Callable[[str, float, str], float | None]
"""Value of a 1.0 price move of one lot of a symbol at a price, in an account currency (None:
the symbol cannot be valued in it, e.g. no record or a cross pair)."""

ASSUMED_CURRENCY = "USD"
"""An account's currency when the journal does not record it (written before revision 0007,
and no worker started on the account since): tate's simulated accounts' default, said so."""


@dataclass(frozen=True)
class Health:
    """One service of the stack: ``state`` is "up", "DOWN" or "not running"."""

    name: str
    url: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class AliasFacts:
    """What an alias points at and what the registry says about that version."""

    alias: str
    version: str
    gate: str  # the training gate's verdict ("passed", "failed", or "-" when not gated)
    gate_reasons: str
    risk_fraction: float  # share of the worker's max volume this alias trades with


@dataclass(frozen=True)
class RegistryFacts:
    """The registered model's aliases and halt tag, or why they could not be read."""

    model: str
    aliases: list[AliasFacts] = field(default_factory=list)
    halted: str | None = None
    problem: str | None = None  # e.g. no registry yet, MLflow not answering


@dataclass(frozen=True)
class RolePnl:
    """One role's PnL on the account's current UTC day, in the account currency."""

    account: str
    role: str
    day: date
    realised: float | None  # None: a symbol could not be valued
    unrealised: float | None
    open_positions: int
    currency: str  # the account's, as its worker journaled it, else ASSUMED_CURRENCY
    currency_known: bool  # False: the journal does not say; the figures assume USD


@dataclass(frozen=True)
class RoleBudget:
    """One role's error budgets over the SLO window ending at the account's newest bar."""

    account: str
    role: str
    execution: BudgetStatus
    latency: BudgetStatus


@dataclass(frozen=True)
class LastVerdict:
    """The newest run of a kind (``flows.reports_home.read_runs``) and where to read it."""

    kind: str
    stamp: str
    verdict: str
    good: bool | None
    detail: str
    path: str  # the page a person opens: Data Docs for validation, the report for drift


@dataclass(frozen=True)
class StatusFacts:
    """Everything `tate status` shows, gathered once."""

    health: list[Health]
    worker: dict[str, Any] | None
    registry: RegistryFacts
    accounts: list[AccountStatus]
    pnl: list[RolePnl]
    budgets: list[RoleBudget]
    verdicts: list[LastVerdict]


def pnl_today(
    trades: Iterable[Trade],
    newest_bar: Mapping[str, datetime | None],
    value: ValuePerPrice,
    currencies: Mapping[str, str],
) -> list[RolePnl]:
    """Per account and role: the realised PnL of the fills on the account's current day that
    closed lots (fill price − average opening price), and the open positions marked at the
    symbol's last fill price on the account (from their average opening price).

    Args:
        trades: fills, oldest first (``flows.trading_view.trades_of``).
        newest_bar: per account, its newest bar; "today" is the UTC day of the later of it and
            the account's newest fill.
        value: value of a 1.0 price move of one lot, in the account's currency.
        currencies: per account, its journaled currency (``ASSUMED_CURRENCY`` for one missing).
    """
    trades = list(trades)
    newest: dict[str, datetime] = {}
    for t in trades:  # a bar's fill comes at its close: after midnight for the day's last bar
        bar = newest_bar.get(t.account)
        newest[t.account] = max(newest.get(t.account, t.at), t.at, *(() if bar is None else (bar,)))
    day_of = {account: at.date() for account, at in newest.items()}
    money = {account: currencies.get(account, ASSUMED_CURRENCY) for account in newest}
    book: dict[tuple[str, str, str], tuple[float, float]] = {}
    realised: dict[tuple[str, str], float | None] = defaultdict(float)
    last_price: dict[tuple[str, str], float] = {}
    for t in trades:
        key = (t.account, t.role, t.symbol)
        lots, average = book.get(key, (0.0, 0.0))
        after, average, move = apply_fill(lots, average, t)
        book[key] = (after, average)
        last_price[(t.account, t.symbol)] = t.price
        if move and t.at.date() == day_of[t.account]:
            realised[(t.account, t.role)] = _add(realised[(t.account, t.role)], move, value(
                t.symbol, t.price, money[t.account]))  # fmt: skip
    unrealised: dict[tuple[str, str], float | None] = {}
    opened: dict[tuple[str, str], int] = defaultdict(int)
    for (account, role, symbol), (lots, average) in sorted(book.items()):
        unrealised.setdefault((account, role), 0.0)  # every role that filled gets a row
        if lots == 0:
            continue
        price = last_price[(account, symbol)]
        opened[(account, role)] += 1
        move = lots * (price - average)
        per_unit = value(symbol, price, money[account])
        unrealised[(account, role)] = _add(unrealised[(account, role)], move, per_unit)
    return [
        RolePnl(account, role, day_of[account], realised[(account, role)],
                unrealised[(account, role)], opened[(account, role)], money[account],
                account in currencies)
        for account, role in sorted(unrealised)
    ]  # fmt: skip


def _add(total: float | None, move: float, per_unit: float | None) -> float | None:
    if total is None or per_unit is None:
        return None
    return total + move * per_unit


def error_budgets(
    decisions: Sequence[Mapping[str, Any]],
    order_states: Sequence[tuple[str, str]],
    *,
    window: timedelta,
    latency_threshold: float,
    latency_target: float,
    execution_target: float,
) -> list[RoleBudget]:
    """Per account and role, the execution budget (the states of the orders its decisions'
    intents sent) and the latency budget (its decisions' latencies), over the window ending
    at the account's newest bar: the arithmetic of ``models.slo``, as the canary gate and the
    worker's SLO counters use it.

    Args:
        decisions: rows with ``account``, ``role``, ``bar_time``, ``latency_seconds``, ``intent_id``.
        order_states: (intent id, state) of every order event.
    """
    newest: dict[str, datetime] = {}
    for d in decisions:
        newest[d["account"]] = max(newest.get(d["account"], d["bar_time"]), d["bar_time"])
    mine: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for d in decisions:
        if d["bar_time"] > newest[d["account"]] - window:
            mine[(d["account"], d["role"])].append(d)
    states: dict[str, list[str]] = defaultdict(list)
    for intent_id, state in order_states:
        states[intent_id].append(state)
    budgets = []
    for (account, role), rows in sorted(mine.items()):
        intents = {r["intent_id"] for r in rows}
        latencies = [
            float("nan") if r["latency_seconds"] is None else float(r["latency_seconds"])
            for r in rows
        ]
        sent = [s for i in sorted(intents) for s in states.get(i, [])]
        budgets.append(
            RoleBudget(
                account,
                role,
                execution_budget(sent, execution_target, f"{role} execution"),
                latency_budget(latencies, latency_threshold, latency_target, f"{role} latency"),
            )
        )
    return budgets


def next_steps(facts: StatusFacts) -> list[str]:
    """What a person does about each thing that is wrong, as commands to type."""
    steps = []
    worker = facts.worker
    if worker is None or not (worker["up"] or worker["supervisor_up"]):
        steps.append("no worker runs on this home: start the stack and its worker with `tate up`")
    for h in facts.health:
        if h.state == "DOWN":
            steps.append(f"{h.name} does not answer at {h.url}: see TATE_HOME/run/, or `tate up`")
    for account in facts.accounts:
        for b in account.breakers:
            if b.tripped:
                steps.append(
                    f"breaker {b.name} tripped ({b.reason}): once its cause is fixed, "
                    f"`tate reset-breaker {b.name} --by YOU`"
                )
    registry = facts.registry
    if registry.problem is None and "champion" not in {a.alias for a in registry.aliases}:
        steps.append("no champion: `tate train` registers one, `tate promote` moves it up")
    verdicts = {v.kind: v for v in facts.verdicts}
    validation, drift = verdicts.get("validation"), verdicts.get("drift")
    if validation is not None and validation.good is False:
        steps.append(f"validation failed: open the Data Docs {validation.path}")
    if registry.halted:
        read = f"read the drift report {drift.path}, " if drift and drift.good is False else ""
        steps.append(
            f"trading halted ({registry.halted}): {read}retrain with `tate train`, "
            "then `tate resume --by YOU`"
        )
    for budget in facts.budgets:
        for spent in (budget.execution, budget.latency):
            if spent.spent:
                steps.append(
                    f"{budget.account} {spent.name} error budget spent: see the worker's log "
                    "and /metrics"
                )
    return steps


def _money(value: float | None) -> str:
    return "?" if value is None else f"{value:+,.2f}"


def format_screen(facts: StatusFacts) -> str:
    """The whole `tate status` screen."""
    health = text_table("stack", ["service", "state", "where", "detail"])
    for h in facts.health:
        health.add_row(h.name, h.state, h.url, h.detail)
    parts = [render_table(health), format_worker(facts.worker), _format_registry(facts.registry)]
    parts.append(format_status(facts.accounts))
    if facts.pnl:
        pnl = text_table("PnL today (UTC day of the newest bar, account currency)", [
            "account", "role", "day", "currency", "realised", "open (marked at last fill)",
            "total", "open positions",
        ])  # fmt: skip
        for p in facts.pnl:
            total = None if p.realised is None or p.unrealised is None else (
                p.realised + p.unrealised)  # fmt: skip
            currency = p.currency if p.currency_known else f"{p.currency}?"
            pnl.add_row(p.account, p.role, p.day.isoformat(), currency, _money(p.realised),
                        _money(p.unrealised), _money(total), str(p.open_positions))  # fmt: skip
        parts.append(render_table(pnl) + _unknown_currency(facts.pnl))
    if facts.budgets:
        budgets = text_table("error budget left (SLO window ending at the newest bar)", [
            "account", "role", "execution", "latency",
        ])  # fmt: skip
        for b in facts.budgets:
            budgets.add_row(b.account, b.role, _budget(b.execution), _budget(b.latency))
        parts.append(render_table(budgets))
    verdicts = _wrapping(text_table("last verdicts", ["kind", "run (UTC)", "verdict"]),
                         "detail", "open")  # fmt: skip
    for v in facts.verdicts:
        verdicts.add_row(v.kind, utc_text(stamp_time(v.stamp)), v.verdict, v.detail, v.path)
    parts.append(render_table(verdicts) if facts.verdicts else "last verdicts: none yet\n")
    steps = next_steps(facts)
    parts.append(
        "what to do next:\n" + "".join(f"  - {s}\n" for s in steps)
        if steps
        else "nothing needs doing\n"
    )
    return "\n".join(parts)


def _unknown_currency(pnl: Sequence[RolePnl]) -> str:
    """One line for the accounts whose currency the journal does not record, else ""."""
    unknown = sorted({p.account or "(none)" for p in pnl if not p.currency_known})
    if not unknown:
        return ""
    return (
        f"currency unknown: assumed {ASSUMED_CURRENCY} for {', '.join(unknown)} (not in the "
        "journal: no worker has started on the account since tate began recording it)\n"
    )


def _wrapping(table: Table, *names: str) -> Table:
    """``table`` with free-text columns added that wrap, so a long reason or path narrows
    them instead of truncating the short columns beside (versions, verdicts)."""
    for name in names:
        table.add_column(name, overflow="fold", ratio=1)
    return table


def _budget(status: BudgetStatus) -> str:
    if status.total == 0:
        return "100% (no events)"
    return f"{status.remaining:.1%} ({status.bad} bad of {status.total})"


def _format_registry(registry: RegistryFacts) -> str:
    if registry.problem:
        return f"registry ({registry.model}): {registry.problem}\n"
    head = f"registry ({registry.model}): " + (
        f"HALTED ({registry.halted})" if registry.halted else "not halted"
    )
    if not registry.aliases:
        return head + "; no aliases\n"
    table = _wrapping(
        text_table(None, ["alias", "version", "gate", "risk fraction"]), "gate reasons"
    )
    for a in registry.aliases:
        table.add_row(a.alias, a.version, a.gate, f"{a.risk_fraction:g}", a.gate_reasons)
    return head + "\n" + render_table(table)


def status_json(facts: StatusFacts) -> dict[str, Any]:
    """The screen's facts for scripts (``--json``), with the next steps."""
    budgets = [
        {"account": b.account, "role": b.role, **{
            kind: {"good": s.good, "total": s.total, "target": s.target, "remaining": s.remaining}
            for kind, s in (("execution", b.execution), ("latency", b.latency))
        }}
        for b in facts.budgets
    ]  # fmt: skip
    return {
        "health": as_json(facts.health),
        "worker": facts.worker,
        "registry": as_json(facts.registry),
        "accounts": as_json(facts.accounts),
        "pnl": [{**as_json(p), "day": p.day.isoformat()} for p in facts.pnl],
        "error_budgets": budgets,
        "verdicts": as_json(facts.verdicts),
        "next_steps": next_steps(facts),
    }
