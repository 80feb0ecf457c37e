"""The journal's intent and order rows come back as typed records, the same whatever wrote them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.execution.intent_tables import intent_orders, intents
from serving.execution.records import IntentRecord, OrderRecord
from serving.execution.store import IntentJournal
from serving.journal import Journal, JournalWrites

BAR = datetime(2024, 3, 1, 13, tzinfo=UTC)
LATER = BAR + timedelta(minutes=5)


@pytest.fixture
def store(tmp_path: Path) -> IntentJournal:
    return IntentJournal(Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}"), "1@a")


def _order(store: IntentJournal) -> OrderRecord:
    return store.new_order(
        "i1.0", at=BAR, intent_id="i1", seq=0, symbol="EURUSD", magic=7, side=1, volume=0.1,
        comment="ti1.0", state="sent", sent_time=1_700_000_000,
    )  # fmt: skip


def test_records_have_exactly_the_tables_columns_in_order() -> None:
    """A column added to a table without its record fails here, not at the first read."""
    assert [f.name for f in dataclasses.fields(IntentRecord)] == list(intents.c.keys())
    assert [f.name for f in dataclasses.fields(OrderRecord)] == list(intent_orders.c.keys())


def test_a_new_orders_insert_names_every_column_in_the_tables_order(
    store: IntentJournal,
) -> None:
    assert list(_order(store).columns()) == list(intent_orders.c.keys())


def test_rows_read_back_from_sqlite_are_records_with_utc_times(store: IntentJournal) -> None:
    store.write_intent(
        intent_id="i1", at=BAR, role="champion", symbol="EURUSD", magic=7, target_volume=0.1,
        state="intended", bar_time=BAR,
    )  # fmt: skip
    writes = JournalWrites()
    store.add_order(writes, _order(store))
    store.journal.commit(writes)

    intent = store.intent("i1")
    assert intent is not None and intent.state == "intended" and intent.account == "1@a"
    assert (intent.bar_time, intent.created_at, intent.updated_at) == (BAR, BAR, BAR)
    assert intent.bar_time is not None and intent.bar_time.tzinfo is UTC
    assert store.intents_in(["intended"]) == [intent]
    (order,) = store.orders(intent_id="i1")
    assert order == _order(store)  # what was inserted is what is read
    assert order.created_at.tzinfo is UTC and order.request is None and order.retcode is None


def test_an_updated_record_is_what_the_journal_holds_after_the_commit(
    store: IntentJournal,
) -> None:
    """The executor keeps the updated record as its mirror of the journal: they must agree,
    reasons cut to the column's length and the update time included."""
    writes = JournalWrites()
    sent = _order(store)
    store.add_order(writes, sent)
    answered = store.update_order(
        writes, sent, at=LATER, state="filled", ticket=5, deal=9, filled_volume=0.1,
        request={"volume": 0.1}, retcode=10009, reason="x" * 600,
    )  # fmt: skip
    store.journal.commit(writes)

    assert sent.state == "sent"  # the record it came from is unchanged
    assert store.orders(order_key="i1.0") == [answered]
    assert len(answered.reason) == 512 and answered.updated_at == LATER
    with pytest.raises(dataclasses.FrozenInstanceError):
        answered.state = "sent"  # type: ignore[misc]


def test_an_order_update_naming_no_column_is_refused(store: IntentJournal) -> None:
    """The decision path's records are built from dicts: a misspelt name must not slip in."""
    with pytest.raises(TypeError, match="fill_volume"):
        _order(store).updated({"fill_volume": 0.1})
    with pytest.raises(TypeError, match="fill_volume"):
        store.new_order("i1.0", at=BAR, intent_id="i1", seq=0, symbol="EURUSD", magic=7,
                        side=1, volume=0.1, comment="c", state="sent", fill_volume=0.1)  # fmt: skip
