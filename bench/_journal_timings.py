"""A bar's first journal transaction, timed for ``bench/decision_path.py``.

``Journal.commit`` of both roles' decision rows, intents and order rows in state ``sent`` (what
the worker commits before its first ``order_send``), against the same INSERTs through the bare
``sqlite3`` module on a journal of the same schema and pragmas, interleaved bar by bar.
Imported, never run (``make bench`` runs ``bench/[!_]*.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench._common import percentiles
from bench._decision_models import MAGIC, MODEL_NAME, NAMES_30, SYMBOL
from serving.identities import make_intent_id

ACCOUNT = "5000001@Tate-SimReplay"
ROLES = (("champion", MAGIC), ("canary", MAGIC + 1))
_DECISION_SQL = (
    "INSERT INTO decisions (decision_id, bar_time, symbol, role, model_name, model_version,"
    " features, signal, confidence, size, intent_id, account)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INTENT_SQL = (
    "INSERT INTO intents (intent_id, role, symbol, magic, bar_time, target_volume,"
    " filled_volume, remainder_volume, state, reason, created_at, updated_at, account)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ORDER_SQL = (
    "INSERT INTO intent_orders (order_key, intent_id, seq, symbol, magic, side, volume,"
    " position, comment, state, retcode, ticket, deal, filled_volume, price, attempts,"
    " sent_time, matched_by, request, reason, created_at, updated_at, account)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _stored(value: datetime) -> str:
    """A UTC time as SQLite stores SQLAlchemy's ``DateTime``."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def time_journal(directory: Path, count: int) -> dict[str, Any]:
    """p50/p99 of a bar's first transaction through ``Journal.commit`` — both roles'
    decision rows, intents and order rows in state ``sent``, what the worker commits before
    its first ``order_send`` — and of the same inserts in one transaction through ``sqlite3``
    on a journal of the same schema and pragmas, interleaved bar by bar."""
    from serving.execution.store import IntentJournal
    from serving.journal import Journal, JournalWrites
    from serving.journal_engine import WAL_AUTOCHECKPOINT_PAGES

    journal = Journal(f"sqlite:///{directory / 'journal.sqlite'}")
    store = IntentJournal(journal, ACCOUNT)
    with journal.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    Journal(f"sqlite:///{directory / 'raw.sqlite'}").close()  # the schema, migrated
    raw = sqlite3.connect(directory / "raw.sqlite", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        raw.execute(f"PRAGMA {pragma}")
    raw.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    rng = np.random.default_rng(5)

    def bar(i: int) -> tuple[datetime, dict[str, float], list[tuple[str, int, str]]]:
        bar_time = datetime.fromtimestamp(1_700_000_000 + i * 3600, UTC)
        features = dict(zip(NAMES_30, rng.normal(size=len(NAMES_30)).tolist(), strict=True))
        stamp = int(bar_time.timestamp())
        ids = [(r, m, make_intent_id("1", r, SYMBOL, stamp, ACCOUNT)) for r, m in ROLES]
        return bar_time, features, ids

    def write(i: int) -> None:
        bar_time, features, ids = bar(i)
        at, writes = datetime.now(UTC), JournalWrites()
        for role, magic, intent_id in ids:
            writes.add_decision(
                bar_time=bar_time, symbol=SYMBOL, role=role, model_name=MODEL_NAME,
                model_version="1", features=features, signal=1, confidence=0.6, size=0.37,
                intent_id=intent_id, account=ACCOUNT,
            )  # fmt: skip
            store.add_intent(
                writes, intent_id=intent_id, at=at, exists=False, state="intended", reason="",
                role=role, symbol=SYMBOL, magic=magic, target_volume=0.37, bar_time=bar_time,
            )  # fmt: skip
            row = store.new_order(
                f"{intent_id}.0", at=at, intent_id=intent_id, seq=0, symbol=SYMBOL, magic=magic,
                side=1, volume=0.37, position=0, comment=intent_id, state="sent",
                sent_time=int(bar_time.timestamp()),
            )  # fmt: skip
            store.add_order(writes, row)
        journal.commit(writes)

    def write_raw(i: int) -> None:
        bar_time, features, ids = bar(i)
        at, bar_at = _stored(datetime.now(UTC)), _stored(bar_time)
        decisions, intents, orders = [], [], []
        for role, magic, intent_id in ids:
            decisions.append((
                os.urandom(16).hex(), bar_at, SYMBOL, role, MODEL_NAME, "1",
                json.dumps(features), 1, 0.6, 0.37, intent_id, ACCOUNT,
            ))  # fmt: skip
            intents.append((
                intent_id, role, SYMBOL, magic, bar_at, 0.37, 0.0, 0.0, "intended", "", at, at,
                ACCOUNT,
            ))  # fmt: skip
            orders.append((
                f"{intent_id}.0", intent_id, 0, SYMBOL, magic, 1, 0.37, 0, intent_id, "sent",
                None, 0, 0, 0.0, 0.0, 0, int(bar_time.timestamp()), "", None, "", at, at,
                ACCOUNT,
            ))  # fmt: skip
        raw.execute("BEGIN")
        raw.executemany(_DECISION_SQL, decisions)
        raw.executemany(_INTENT_SQL, intents)
        raw.executemany(_ORDER_SQL, orders)
        raw.execute("COMMIT")

    journal_ns = np.empty(count, dtype=np.int64)
    raw_ns = np.empty(count, dtype=np.int64)
    for i in range(count + 100):
        for fn, ns in ((write, journal_ns), (write_raw, raw_ns)):
            start = time.perf_counter_ns()
            fn(i)
            if i >= 100:
                ns[i - 100] = time.perf_counter_ns() - start
    journal.close()
    raw.close()
    return {"journal": percentiles(journal_ns), "sqlite3": percentiles(raw_ns), "mode": mode}
