"""What a replay leaves behind, in a form two runs of the same bars can be compared by.

Every journal table's rows in insertion order, the terminal's deals, positions and account.
Left out: what a run cannot repeat — ``decision_id`` (time and random bytes), measured
latencies (wall clock) and autoincrement keys — and nothing else, so a change that moves any
figure, state, reason or time the worker writes shows up. Intent ids are replaced by their
rank of first appearance (``intent-0``, …) wherever they occur (order keys, comments, the
requests' JSON): which decisions share an intent is compared, not how an id is spelled
(``serving.identities.make_intent_id`` has its own tests).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from serving.journal import Journal
from serving.sim.terminal import SimTerminal

TABLES: dict[str, tuple[str, ...]] = {
    # table: the columns a rerun cannot repeat
    "decisions": ("decision_id", "latency_seconds"),
    "order_events": ("event_id", "latency_seconds"),
    "intents": (),
    "intent_orders": (),
    "breaker_events": ("event_id",),
}


def journal_rows(journal: Journal) -> dict[str, list[dict[str, Any]]]:
    """Each table's rows as the database holds them (oldest first), minus the unrepeatable."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with journal.engine.connect() as conn:
        for table, left_out in TABLES.items():
            found = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY rowid")
            names = [d[0] for d in found.cursor.description]
            rows[table] = [
                {n: v for n, v in zip(names, row, strict=True) if n not in left_out}
                for row in found
            ]
    return rows


def terminal_state(terminal: SimTerminal) -> dict[str, Any]:
    """The terminal's deals, open positions and account, as plain values."""
    deals = terminal.history_deals_get(0, 2**40) or ()
    positions = terminal.positions_get() or ()
    account = terminal.account_info()
    return {
        "deals": [d._asdict() for d in deals],
        "positions": [p._asdict() for p in positions],
        "account": None if account is None else account._asdict(),
    }


def replay_record(journal: Journal, terminal: SimTerminal) -> dict[str, Any]:
    """The journal's rows and the terminal's state (``journal_rows``, ``terminal_state``)."""
    return {**journal_rows(journal), **terminal_state(terminal)}


def digests(record: dict[str, Any]) -> dict[str, str]:
    """A sha256 per part of a ``replay_record`` (which part differs says where to look),
    intent ids replaced by their rank of first appearance."""
    aliases: dict[str, str] = {}
    for table in ("decisions", "intents", "intent_orders", "order_events", "breaker_events"):
        for row in record.get(table, ()):
            intent_id = row.get("intent_id")
            if intent_id and intent_id not in aliases:
                aliases[intent_id] = f"intent-{len(aliases)}"
    pattern = re.compile(r"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])")  # the ids: 16 hex digits

    def alias(match: re.Match[str]) -> str:
        return aliases.get(match.group(), match.group())

    return {
        part: hashlib.sha256(
            pattern.sub(alias, json.dumps(value, sort_keys=True, default=str)).encode()
        ).hexdigest()
        for part, value in record.items()
    }
