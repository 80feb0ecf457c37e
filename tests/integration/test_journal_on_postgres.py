"""What only a server journal can do to the worker: its connection can be cut (a server restart,
a failover, an admin's pg_terminate_backend). The bar's commit then fails whole and raises, and
the next bar's commit opens a fresh connection and writes; nothing half-written is left."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError

from serving.journal import Journal, JournalWrites
from tests.postgres import Cluster

pytestmark = pytest.mark.integration

BAR = datetime(2024, 3, 1, 13, tzinfo=UTC)


def decision(intent_id: str) -> dict[str, object]:
    return {
        "bar_time": BAR, "symbol": "EURUSD", "role": "champion", "model_name": "m",
        "model_version": "1", "features": {"ret_1": 0.001}, "signal": 1, "confidence": 0.7,
        "size": 0.35, "intent_id": intent_id, "account": "1@a",
    }  # fmt: skip


def test_a_cut_connection_fails_one_commit_whole_and_the_next_one_writes(
    postgres_url: str, postgres_cluster: Cluster
) -> None:
    journal = Journal(postgres_url)
    journal.record_decision(**decision("i0"))  # the writer's connection is open now
    database = postgres_url.rsplit("/", 1)[1]
    postgres_cluster.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    writes = JournalWrites()
    writes.add_decision(**decision("i1"))
    writes.add_order_event(
        intent_id="i1", ticket=1, request={}, retcode=None, state="sent", price=0.0,
        volume=0.1, slippage_points=0.0, latency_seconds=0.0, at=BAR, account="1@a",
    )  # fmt: skip
    with pytest.raises(DBAPIError):
        journal.commit(writes)
    writes.clear()
    writes.add_decision(**decision("i2"))
    journal.commit(writes)  # a fresh connection
    assert journal.read_decisions()["intent_id"].tolist() == ["i0", "i2"]
    assert journal.read_order_events().empty
    journal.close()
