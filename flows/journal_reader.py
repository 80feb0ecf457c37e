"""Read the journal for `tate status`, `trades` and `positions`: read-only, and light.

Plain SQL through SQLAlchemy on an engine of its own: no migration, no write, no pandas (the
journal's own readers build DataFrames, which costs a command seconds of imports), so the
commands answer at once while a worker writes (SQLite WAL lets readers in). Rows become
typed records (``serving.execution.records``); ``flows.trading_view`` does the rest.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from flows.trading_view import (
    AccountStatus,
    Trade,
    breakers_of,
    positions_of,
    refusal,
    role_status,
    trades_of,
)
from serving.execution.records import intent_record, order_record
from serving.journal_integrity import JournalRefusedError, server_journal
from serving.utc import as_utc

_TIME = DateTime(timezone=True)  # typed, so SQLite's stored text comes back as datetimes
DECISIONS = text(
    "SELECT account, role, bar_time, model_name, model_version FROM decisions ORDER BY bar_time"
).columns(bar_time=_TIME)
INTENTS = text("SELECT * FROM intents").columns(bar_time=_TIME, created_at=_TIME, updated_at=_TIME)
ORDERS = text("SELECT * FROM intent_orders").columns(
    created_at=_TIME, updated_at=_TIME, request=JSON
)
BREAKER_EVENTS = text("SELECT * FROM breaker_events ORDER BY event_id").columns(at=_TIME)
CURRENCIES = text("SELECT account, currency FROM accounts")


def open_journal(url: str) -> Engine | None:
    """An engine on the journal at ``url``, or None when its SQLite file does not exist (a
    reader never creates one).

    Raises:
        JournalRefusedError: a server journal (PostgreSQL) does not answer; the message names
            it with its password masked (a down database is the operator's to fix, not a bug).
    """
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    engine = create_engine(url)
    label = server_journal(url)
    if label is not None:
        try:
            with engine.connect():
                pass
        except DBAPIError as error:
            engine.dispose()
            why = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise JournalRefusedError(f"journal {label} cannot be reached ({why})") from None
    return engine


def read_trades(engine: Engine) -> list[Trade]:
    """Every filled order in the journal, oldest first, with its intent's role."""
    with engine.connect() as conn:
        found_intents = [intent_record(r) for r in conn.execute(INTENTS).mappings()]
        orders = [order_record(r) for r in conn.execute(ORDERS).mappings()]
    return trades_of(orders, {i.intent_id: i for i in found_intents})


def read_currencies(engine: Engine) -> dict[str, str]:
    """Each account's currency, as its worker journaled it at start-up (``accounts``); an
    account whose worker has not started since revision 0007 is missing, and a journal no
    worker has opened since has no table at all (this reader never migrates): {}."""
    if not inspect(engine).has_table("accounts"):
        return {}
    with engine.connect() as conn:
        return {str(account): str(currency) for account, currency in conn.execute(CURRENCIES)}


def read_status(engine: Engine) -> list[AccountStatus]:
    """Per account: each role's decisions and orders, breakers, refusal and positions."""
    with engine.connect() as conn:
        rows = conn.execute(DECISIONS).mappings().all()
        found_intents = [intent_record(r) for r in conn.execute(INTENTS).mappings()]
        orders = [order_record(r) for r in conn.execute(ORDERS).mappings()]
        events = conn.execute(BREAKER_EVENTS).mappings().all()
    by_role: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_role[(row["account"], row["role"])].append({**row, "bar_time": as_utc(row["bar_time"])})
    intent_of = {i.intent_id: i for i in found_intents}
    order_times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for order in orders:
        intent = intent_of.get(order.intent_id)
        role = intent.role if intent is not None else "?"
        order_times[(order.account, role)].append(order.created_at)
    positions = positions_of(trades_of(orders, intent_of))
    accounts = sorted({account for account, _ in by_role} | {i.account for i in found_intents})
    statuses = []
    for account in accounts:
        mine = [key for key in sorted(by_role) if key[0] == account]
        newest = max((by_role[key][-1]["bar_time"] for key in mine), default=None)
        breakers = breakers_of(
            {**e, "at": as_utc(e["at"])} for e in events if e["account"] in (account, "")
        )
        newest_intent = max(
            (i for i in found_intents if i.account == account),
            key=lambda i: i.updated_at,
            default=None,
        )
        roles = [
            role_status(account, role, by_role[key], order_times[key], newest)
            for key in mine
            for role in (key[1],)
        ]
        state = None if newest_intent is None else newest_intent.state
        statuses.append(
            AccountStatus(
                account=account,
                newest_bar=newest,
                roles=roles,
                breakers=breakers,
                refused=refusal(breakers, state),
                positions=[p for p in positions if p.account == account],
            )
        )
    return statuses


SLO_DECISIONS = text(
    "SELECT account, role, bar_time, latency_seconds, intent_id FROM decisions"
).columns(bar_time=_TIME)
ORDER_STATES = text("SELECT intent_id, state FROM order_events")


def read_slo_rows(engine: Engine) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """What the error budgets are computed from: every decision's account, role, bar time,
    latency and intent, and every order event's (intent, state)."""
    with engine.connect() as conn:
        decisions = [
            {**row, "bar_time": as_utc(row["bar_time"])}
            for row in conn.execute(SLO_DECISIONS).mappings()
        ]
        states = [(str(r[0]), str(r[1])) for r in conn.execute(ORDER_STATES)]
    return decisions, states
