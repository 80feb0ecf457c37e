"""The journal round-trips decisions (features as columns) and order events, tz-aware, on a
SQLite file and on PostgreSQL alike (``journal_url``)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from serving.execution.intents import PlannedOrder
from serving.execution.store import IntentJournal
from serving.journal import Journal, JournalWrites
from serving.journal_engine import to_json
from serving.journal_writes import new_decision_id

BAR = datetime(2024, 3, 1, 13, tzinfo=UTC)


def _fields(intent_id: str, version: str = "3") -> dict:
    return {
        "bar_time": BAR,
        "symbol": "EURUSD",
        "role": "champion",
        "model_name": "lgbm_momentum",
        "model_version": version,
        "features": {"ret_1": 0.001},
        "signal": 1,
        "confidence": 0.7,
        "size": 0.35,
        "intent_id": intent_id,
    }


def _decision(journal: Journal, version: str = "3", **overrides: object) -> str:
    fields: dict = {
        "bar_time": BAR,
        "symbol": "EURUSD",
        "role": "champion",
        "model_name": "lgbm_momentum",
        "model_version": version,
        "features": {"ret_1": 0.001, "vol_24": float("nan")},
        "signal": 1,
        "confidence": 0.7,
        "size": 0.35,
        "intent_id": f"intent-{version}",
    }
    fields.update(overrides)
    return journal.record_decision(**fields)


def test_decisions_round_trip_with_features_as_columns(journal_url: str) -> None:
    journal = Journal(journal_url)
    _decision(journal, "3")
    _decision(
        journal, "4", bar_time=BAR.replace(hour=14), features={"ret_1": -0.002, "vol_24": 0.01}
    )
    frame = journal.read_decisions()
    assert list(frame["model_version"]) == ["3", "4"]
    assert str(frame["bar_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["bar_time"].iloc[0] == pd.Timestamp(BAR)
    assert frame["ret_1"].tolist() == [0.001, -0.002]
    assert pd.isna(frame["vol_24"].iloc[0]) and frame["vol_24"].iloc[1] == 0.01
    only_4 = journal.read_decisions(model_name="lgbm_momentum", version="4")
    assert only_4["intent_id"].tolist() == ["intent-4"]
    assert journal.read_decisions(model_name="other").empty


def test_order_events_round_trip(journal_url: str) -> None:
    journal = Journal(journal_url)
    journal.record_order_event(
        intent_id="intent-3", ticket=1001, request={"symbol": "EURUSD", "volume": 0.35},
        retcode=10009, state="filled", price=1.08412, volume=0.35, slippage_points=0.0,
        latency_seconds=0.002, at=BAR,
    )  # fmt: skip
    journal.record_order_event(
        intent_id="intent-3", ticket=0, request={}, retcode=None, state="unknown",
        price=0.0, volume=0.0, slippage_points=0.0, latency_seconds=0.5, at=BAR,
    )  # fmt: skip
    events = journal.read_order_events("intent-3")
    assert events["state"].tolist() == ["filled", "unknown"]
    assert events["request"].iloc[0] == {"symbol": "EURUSD", "volume": 0.35}
    assert pd.isna(events["retcode"].iloc[1])
    assert events["at"].iloc[0] == pd.Timestamp(BAR)


def test_sqlite_file_runs_in_wal_mode(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    with journal.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_naive_bar_time_is_refused() -> None:
    journal = Journal("sqlite://")
    with pytest.raises(ValueError, match="naive"):
        _decision(journal, bar_time=datetime(2024, 3, 1, 13))  # noqa: DTZ001


def test_empty_journal_reads_as_empty_frame() -> None:
    frame = Journal("sqlite://").read_decisions()
    assert frame.empty and "bar_time" in frame.columns


def test_every_row_carries_its_account_and_reads_filter_by_it(journal_url: str) -> None:
    journal = Journal(journal_url)
    for account in ("1@a", "2@b"):
        _decision(journal, intent_id=f"i-{account}", account=account)
        journal.record_order_event(
            intent_id=f"i-{account}", ticket=1, request={}, retcode=10009, state="filled",
            price=1.1, volume=0.1, slippage_points=0.0, latency_seconds=0.0, at=BAR,
            account=account,
        )  # fmt: skip
        journal.record_breaker_event(
            breaker="latency", event="trip", reason="slow", at=BAR, by="worker", account=account
        )
    decisions = journal.read_decisions(account="2@b")
    assert decisions[["intent_id", "account"]].values.tolist() == [["i-2@b", "2@b"]]
    assert set(journal.read_decisions()["account"]) == {"1@a", "2@b"}
    assert journal.read_order_events(account="1@a")["intent_id"].tolist() == ["i-1@a"]
    assert journal.read_breaker_events(account="1@a")["account"].tolist() == ["1@a"]
    assert journal.read_order_events(account="3@c").empty


def test_a_bars_rows_commit_together_in_one_transaction(journal_url: str) -> None:
    journal, reader = Journal(journal_url), Journal(journal_url)
    writes = JournalWrites()
    for i in range(3):
        writes.add_decision(**_fields(f"i{i}"), account="1@a")
        writes.add_order_event(
            intent_id=f"i{i}", ticket=i, request={"n": i}, retcode=None, state="sent", price=0.0,
            volume=0.1, slippage_points=0.0, latency_seconds=0.0, at=BAR, account="1@a",
        )  # fmt: skip
    assert len(writes) == 6 and reader.read_decisions().empty  # nothing before the commit
    journal.commit(writes)
    assert len(writes) == 0
    assert reader.read_decisions()["intent_id"].tolist() == ["i0", "i1", "i2"]
    assert reader.read_order_events()["request"].tolist() == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_failed_commit_writes_none_of_its_rows_and_the_next_one_writes(journal_url: str) -> None:
    journal = Journal(journal_url)
    journal.record_decision(**_fields("i0"), decision_id="taken")
    writes = JournalWrites()
    writes.add_order_event(
        intent_id="i1", ticket=1, request={}, retcode=None, state="sent", price=0.0,
        volume=0.1, slippage_points=0.0, latency_seconds=0.0, at=BAR,
    )  # fmt: skip
    writes.add_decision(**_fields("i1"), decision_id="taken")  # the primary key again
    with pytest.raises(IntegrityError):
        journal.commit(writes)
    assert journal.read_order_events().empty  # the order event went with the failed decision
    writes.clear()
    writes.add_decision(**_fields("i2"))
    journal.commit(writes)
    assert journal.read_decisions()["intent_id"].tolist() == ["i0", "i2"]


def test_a_bars_writes_reach_the_driver_without_sqlalchemy_executing_them(journal_url: str) -> None:
    """The decision path's statements are compiled once and run on the held connection; one
    falling back to SQLAlchemy's execute (e.g. a column the rows leave to a default) would
    cost the bar several times over, silently."""
    journal = Journal(journal_url)
    store = IntentJournal(journal, "1@a")
    executed: list[str] = []
    event.listen(journal.engine, "before_cursor_execute", lambda *a: executed.append(a[2]))
    for exists in (False, True):
        writes = JournalWrites()
        writes.add_decision(**_fields("i1"), account="1@a", decision_id=f"d{exists}")
        store.add_intent(
            writes, intent_id="i1", at=BAR, exists=exists, state="intended", reason="",
            role="champion", symbol="EURUSD", magic=7, target_volume=0.1, bar_time=BAR,
        )  # fmt: skip
        if exists:
            store.add_order_update(writes, "i1.0", at=BAR, state="filled", ticket=5)
        else:
            store.add_order(writes, store.new_order(
                "i1.0", at=BAR, intent_id="i1", seq=0, symbol="EURUSD", magic=7, side=1,
                volume=0.1, comment="i1", state="sent",
            ))  # fmt: skip
        writes.add_order_event(
            intent_id="i1", ticket=5, request={"volume": 0.1}, retcode=10009, state="filled",
            price=1.1, volume=0.1, slippage_points=0.0, latency_seconds=0.0, at=BAR, account="1@a",
        )  # fmt: skip
        journal.commit(writes)
    assert executed == []
    assert store.orders()[0].state == "filled" and store.intent("i1") is not None
    assert len(journal.read_decisions()) == 2 and len(journal.read_order_events()) == 2


def test_the_decision_path_stores_the_bytes_sqlalchemy_would(journal_url: str) -> None:
    """``Journal.commit`` formats times and JSON itself (compiled once, its own encoder): the
    readers (tate trades, status, the canary gate, drift) must see exactly what SQLAlchemy's
    own execute writes, to the byte — same float digits, escapes, nulls, time text."""
    journal = Journal(journal_url)
    features = {"ret_1": 0.1 + 0.2, "vol_24": float("nan"), "é→z": np.float64(1e-7), "x": 1e300}
    request = {"comment": 't→x"q', "volume": np.float64(0.07), "type": 0, "legs": [1, None, "a"]}
    at = datetime(2024, 3, 1, 13, 0, 0, 123456, tzinfo=UTC)
    for account in ("fast", "sqlalchemy"):
        writes = JournalWrites()
        writes.add_decision(
            **{**_fields(f"i-{account}"), "features": features},
            account=account, decision_id=f"d-{account}", latency_seconds=1e-4,
        )  # fmt: skip
        writes.add_order_event(
            intent_id=f"i-{account}", ticket=5, request=request, retcode=None, state="filled",
            price=1.1, volume=0.1, slippage_points=0.0, latency_seconds=0.0, at=at,
            account=account,
        )  # fmt: skip
        commit_by(account, journal, writes)
    stored = {
        table: [
            tuple(row) for row in _raw(journal, f"SELECT CAST({json} AS TEXT), {time} FROM {table}")
        ]
        for table, json, time in (
            ("decisions", "features", "bar_time"),
            ("order_events", "request", "at"),
        )
    }
    for table, (fast, slow) in stored.items():
        assert fast == slow, table
    assert stored["decisions"][0][0] == json.dumps({**features, "vol_24": None}, default=str)
    assert stored["order_events"][0][0] == json.dumps(request, default=str)
    journal.close()


def commit_by(way: str, journal: Journal, writes: JournalWrites) -> None:
    """Commit ``writes`` by the decision path's fast commit (``"fast"``) or by SQLAlchemy's
    own execute of the same statements and rows (anything else)."""
    if way == "fast":
        journal.commit(writes)
        return
    with journal.engine.begin() as conn:
        for statement, rows in writes:
            conn.execute(statement, rows)


def test_intent_and_order_rows_store_the_bytes_sqlalchemy_would(journal_url: str) -> None:
    """The intents and their orders, inserted and then updated by the decision path's own
    builders, hold what SQLAlchemy's own execute writes: times, JSON (an order's request,
    null before its answer), floats."""
    journal = Journal(journal_url)
    request = {"comment": 't→x"q', "volume": np.float64(0.07), "type": 0, "legs": [1, None]}
    at = datetime(2024, 3, 1, 13, 0, 1, 123456, tzinfo=UTC)
    later = datetime(2024, 3, 1, 14, 0, 1, tzinfo=timezone(timedelta(hours=1)))
    for account in ("fast", "sqlalchemy"):
        store, intent_id = IntentJournal(journal, account), f"i-{account}"
        order = PlannedOrder(intent_id, 0, "EURUSD", 7, True, 0.07, 0, intent_id)
        inserts, updates = JournalWrites(), JournalWrites()
        store.add_intended(inserts, intent_id, at, "champion", "EURUSD", 7, 0.07, BAR)
        row = store.sending_order(order, at, 1_709_298_001)
        store.add_order(inserts, row)
        store.settle_order(
            updates, row, later, "filled", 10009, 5, 6, 0.07, 1.1 + 1e-9, 1, 1_709_298_002,
            "answer", request, "é",
        )  # fmt: skip
        store.add_intent_state(updates, intent_id, later, "filled", 0.1 + 0.2, 0.0)
        for writes in (inserts, updates):
            commit_by(account, journal, writes)
    for table, columns in (
        ("intents", "bar_time, created_at, updated_at, target_volume, filled_volume, state"),
        ("intent_orders", "CAST(request AS TEXT), created_at, updated_at, price, volume"),
    ):
        fast, slow = (tuple(row) for row in _raw(journal, f"SELECT {columns} FROM {table}"))
        assert fast == slow, table
    journal.close()


def _raw(journal: Journal, sql: str) -> list[Any]:
    """Rows as the database holds them (no SQLAlchemy type processing), fast account first."""
    with journal.engine.connect() as conn:
        return list(conn.execute(text(f"{sql} ORDER BY account")))


def test_decision_ids_grow_with_time_and_a_forked_child_never_repeats_its_parents() -> None:
    """The random half is drawn from a pool: a child forked with the pool must not draw the
    bytes its parent draws next (two workers' decisions in one journal would clash)."""
    ids = [new_decision_id() for _ in range(600)]  # more than one pool's worth
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_decision_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child[16:] != new_decision_id()[16:]


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -5, 1.5, float("nan"), float("inf"), "é\"x", [1, 2.5, None], (1, 2),
     {"a": {"b": [np.int64(3)]}}, {1: 2}, np.float64(0.1), np.int64(3)],
)  # fmt: skip
def test_json_columns_are_written_as_json_dumps_writes_them(value: object) -> None:
    """The JSON columns' encoder is built once; it must write what ``json.dumps`` writes
    (numpy scalars and other strangers as their string), scalars at the top included."""
    assert to_json(value) == json.dumps(value, default=str)
