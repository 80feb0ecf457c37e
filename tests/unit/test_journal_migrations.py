"""The journal's schema is migrated by Alembic when it opens: old journals keep every row and
gain the account, new ones start at the newest revision, and nothing is ever recreated; on a SQLite file and
on PostgreSQL alike (``journal_url``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    exc,
    insert,
    inspect,
    text,
)

import serving.execution.intent_tables  # noqa: F401  (its tables join the journal's metadata)
from serving.journal import Journal, metadata
from serving.journal_engine import make_engine
from serving.journal_integrity import JournalRefusedError
from serving.journal_migrations import alembic_config, head_revision, upgrade_journal
from serving.journal_schema import accounts

AT = datetime(2024, 3, 1, 13, tzinfo=UTC)
TABLES = ("decisions", "order_events", "breaker_events", "intents", "intent_orders")


def pre_account_tables() -> MetaData:
    """The journal's tables as ``metadata.create_all`` made them before Alembic (a copy)."""
    old = MetaData()
    Table(
        "decisions", old,
        Column("decision_id", String(32), primary_key=True),
        Column("bar_time", DateTime(timezone=True), nullable=False, index=True),
        Column("symbol", String(32), nullable=False, index=True),
        Column("role", String(16), nullable=False),
        Column("model_name", String(128), nullable=False),
        Column("model_version", String(32), nullable=False),
        Column("features", JSON, nullable=False),
        Column("signal", Integer, nullable=False),
        Column("confidence", Float, nullable=False),
        Column("size", Float, nullable=False),
        Column("intent_id", String(64), nullable=False, index=True),
    )  # fmt: skip
    Table(
        "order_events", old,
        Column("event_id", Integer, primary_key=True, autoincrement=True),
        Column("intent_id", String(64), nullable=False, index=True),
        Column("ticket", Integer, nullable=False),
        Column("request", JSON, nullable=False),
        Column("retcode", Integer, nullable=True),
        Column("state", String(32), nullable=False),
        Column("price", Float, nullable=False),
        Column("volume", Float, nullable=False),
        Column("slippage_points", Float, nullable=False),
        Column("latency_seconds", Float, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    Table(
        "breaker_events", old,
        Column("event_id", Integer, primary_key=True, autoincrement=True),
        Column("breaker", String(32), nullable=False, index=True),
        Column("event", String(16), nullable=False),
        Column("reason", String(512), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("by", String(64), nullable=False),
        Column("value", Float, nullable=True),
        Column("intent_id", String(64), nullable=True),
    )  # fmt: skip
    Table(
        "intents", old,
        Column("intent_id", String(64), primary_key=True),
        Column("role", String(16), nullable=False),
        Column("symbol", String(32), nullable=False, index=True),
        Column("magic", Integer, nullable=False, index=True),
        Column("bar_time", DateTime(timezone=True), nullable=True),
        Column("target_volume", Float, nullable=False),
        Column("filled_volume", Float, nullable=False, default=0.0),
        Column("remainder_volume", Float, nullable=False, default=0.0),
        Column("state", String(16), nullable=False, index=True),
        Column("reason", String(512), nullable=False, default=""),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    Table(
        "intent_orders", old,
        Column("order_key", String(80), primary_key=True),
        Column("intent_id", String(64), nullable=False, index=True),
        Column("seq", Integer, nullable=False),
        Column("symbol", String(32), nullable=False, index=True),
        Column("magic", Integer, nullable=False, index=True),
        Column("side", Integer, nullable=False),
        Column("volume", Float, nullable=False),
        Column("position", Integer, nullable=False, default=0),
        Column("comment", String(31), nullable=False),
        Column("state", String(16), nullable=False, index=True),
        Column("retcode", Integer, nullable=True),
        Column("ticket", Integer, nullable=False, default=0),
        Column("deal", Integer, nullable=False, default=0),
        Column("filled_volume", Float, nullable=False, default=0.0),
        Column("price", Float, nullable=False, default=0.0),
        Column("attempts", Integer, nullable=False, default=0),
        Column("sent_time", Integer, nullable=False, default=0),
        Column("matched_by", String(16), nullable=False, default=""),
        Column("request", JSON, nullable=True),
        Column("reason", String(512), nullable=False, default=""),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    return old


OLD_ROWS = {
    "decisions": [
        {"decision_id": f"d{i}", "bar_time": AT, "symbol": "EURUSD", "role": "champion",
         "model_name": "m", "model_version": "1", "features": {"ret_1": 0.1 * i}, "signal": 1,
         "confidence": 0.5, "size": 0.1, "intent_id": f"i{i}"}
        for i in range(3)
    ],
    "order_events": [
        {"intent_id": "i0", "ticket": 7, "request": {"volume": 0.1}, "retcode": 10009,
         "state": "filled", "price": 1.1, "volume": 0.1, "slippage_points": 0.0,
         "latency_seconds": 0.01, "at": AT}
    ],
    "breaker_events": [
        {"breaker": "halted", "event": "trip", "reason": "tagged", "at": AT, "by": "worker"}
    ],
    "intents": [
        {"intent_id": "i0", "role": "champion", "symbol": "EURUSD", "magic": 1, "bar_time": AT,
         "target_volume": 0.1, "state": "filled", "created_at": AT, "updated_at": AT}
    ],
    "intent_orders": [
        {"order_key": "i0.0", "intent_id": "i0", "seq": 0, "symbol": "EURUSD", "magic": 1,
         "side": 1, "volume": 0.1, "comment": "ti0.0", "state": "filled", "ticket": 7,
         "created_at": AT, "updated_at": AT}
    ],
}  # fmt: skip


def write_pre_account_journal(url: str, tables: tuple[str, ...] = TABLES) -> None:
    """A journal as the code before Alembic left it: its tables, some rows, no version."""
    old = pre_account_tables()
    engine = create_engine(url)
    with engine.begin() as conn:
        old.create_all(conn, tables=[old.tables[name] for name in tables])
        for name in tables:
            conn.execute(insert(old.tables[name]), OLD_ROWS[name])
    engine.dispose()


def rows(url: str, table: str) -> list[dict]:
    """``table``'s rows as the driver returns them (ordered by their first column)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).mappings()
            return [dict(r) for r in found]
    finally:
        engine.dispose()


def version(url: str) -> list[tuple[str, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version"))
            return [tuple(r) for r in found]
    finally:
        engine.dispose()


def test_a_journal_from_before_alembic_keeps_every_row_and_gains_the_account(
    journal_url: str,
) -> None:
    url = journal_url
    write_pre_account_journal(url)
    before = {name: rows(url, name) for name in TABLES}
    journal = Journal(url)
    assert version(url) == [(head_revision(),)]
    for name in TABLES:
        after = rows(url, name)
        added = {"account"} | ({"latency_seconds"} if name == "decisions" else set())  # 0003
        assert [{k: v for k, v in r.items() if k not in added} for r in after] == before[name]
        assert {r["account"] for r in after} == {""}
    assert {r["latency_seconds"] for r in rows(url, "decisions")} == {None}  # not measured
    decisions = journal.read_decisions()
    assert decisions["intent_id"].tolist() == ["i0", "i1", "i2"]
    assert decisions["ret_1"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert journal.read_decisions(account="").shape[0] == 3
    assert journal.read_decisions(account="1@srv").empty
    journal.record_decision(
        **{**OLD_ROWS["decisions"][0], "decision_id": "new", "account": "1@srv"}
    )
    assert journal.read_decisions(account="1@srv")["decision_id"].tolist() == ["new"]
    journal.close()


def test_a_journal_from_before_the_intent_tables_gains_them(journal_url: str) -> None:
    url = journal_url
    write_pre_account_journal(url, tables=("decisions", "order_events", "breaker_events"))
    Journal(url).close()
    assert len(rows(url, "decisions")) == 3 and rows(url, "intents") == []
    assert "account" in rows(url, "decisions")[0]


@pytest.fixture
def two_journal_urls(request: pytest.FixtureRequest, journal_url: str, tmp_path: Path) -> list[str]:
    """Two empty journals of ``journal_url``'s dialect."""
    if journal_url.startswith("sqlite"):
        return [journal_url, f"sqlite:///{tmp_path / 'migrated.sqlite'}"]
    return [
        journal_url,
        str(
            request.getfixturevalue("postgres_cluster").url(
                request.getfixturevalue("postgres_cluster").new_database()
            )
        ),
    ]


def test_the_revisions_build_the_schema_the_code_queries(two_journal_urls: list[str]) -> None:
    """The same revisions, on each dialect: no statement of them is SQLite's or PostgreSQL's
    alone, and running them from the baseline builds what ``metadata.create_all`` builds."""
    fresh, migrated = two_journal_urls
    Journal(fresh).close()  # a new journal: created at head
    engine = make_engine(migrated)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")  # every revision from the baseline up
    engine.dispose()
    for url in (fresh, migrated):
        assert version(url) == [(head_revision(),)]
        engine = make_engine(url)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        engine.dispose()


def test_opening_a_current_journal_again_changes_nothing(journal_url: str) -> None:
    url = journal_url
    first = Journal(url)
    first.record_decision(**{**OLD_ROWS["decisions"][0], "account": "1@srv"})
    statements: list[str] = []
    engine = make_engine(url)
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    upgrade_journal(engine)
    assert statements and all(
        s.lstrip().upper().startswith(("SELECT", "PRAGMA", "SHOW")) for s in statements
    )
    assert len(Journal(url).read_decisions()) == 1


def test_a_corrupt_journal_fails_loudly_and_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    garbage = b"not a database, but somebody's evidence\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(JournalRefusedError, match="not a database") as refused:
        Journal(f"sqlite:///{path}")
    assert str(path) in str(refused.value), "the file is named"
    assert path.read_bytes() == garbage


def test_a_migration_that_fails_part_way_leaves_the_journal_as_it_was(journal_url: str) -> None:
    """Both dialects run DDL in the one migration transaction: all of it, or none."""
    url = journal_url
    write_pre_account_journal(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # the last table the account revision alters clashes
        conn.execute(text("ALTER TABLE intent_orders ADD COLUMN account VARCHAR(96)"))
    with pytest.raises(exc.DatabaseError, match=r"duplicate column|already exists"):
        Journal(url)
    for name in ("decisions", "order_events", "breaker_events", "intents"):
        assert "account" not in rows(url, name)[0]  # the earlier tables were rolled back too
    assert "alembic_version" not in inspect(engine).get_table_names()
    engine.dispose()
    assert len(rows(url, "decisions")) == 3


KEPT_INDEXES = {  # each read by a bounded query (revisions 0005 and 0006 say which)
    "decisions": set(),  # read whole, or by model version (0006)
    "order_events": set(),
    "intents": {"ix_intents_state_account"},
    "intent_orders": {"ix_intent_orders_intent_id", "ix_intent_orders_state_account"},
}


def test_the_tables_a_bar_writes_carry_only_the_indexes_a_query_reads(journal_url: str) -> None:
    """Every index on them costs each bar's commit a page: the unread ones are gone, from a
    new journal and from one migrated from the baseline alike."""
    write_pre_account_journal(journal_url)  # the baseline's indexes, all of them
    Journal(journal_url).close()
    engine = create_engine(journal_url)
    try:
        found = {t: {ix["name"] for ix in inspect(engine).get_indexes(t)} for t in KEPT_INDEXES}
    finally:
        engine.dispose()
    assert found == KEPT_INDEXES


def test_the_index_revisions_downgrade_and_upgrade_back_to_the_same_schema(
    journal_url: str,
) -> None:
    """An operator who rolls tate back runs the downgrades: the dropped indexes come back as
    the revision before them had them, and upgrading again drops them once more."""
    Journal(journal_url).close()
    engine = make_engine(journal_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
            restored = {t: {ix["name"] for ix in inspect(conn).get_indexes(t)} for t in TABLES}
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
    assert {"ix_decisions_symbol", "ix_decisions_account_bar_time"} <= restored["decisions"]
    assert {"ix_order_events_intent_id", "ix_order_events_account_intent_id"} <= restored[
        "order_events"
    ]
    assert {"ix_intents_symbol", "ix_intents_magic"} <= restored["intents"]


def test_the_accounts_revision_downgrades_and_upgrades_back_keeping_every_other_row(
    journal_url: str,
) -> None:
    """Revision 0007 only adds the ``accounts`` table: its downgrade drops that table (an
    operator rolling tate back to a build that never reads it), leaves the decisions as they
    were, and opening the journal again brings the table back, empty, at the same schema."""
    journal = Journal(journal_url)
    journal.record_decision(**{**OLD_ROWS["decisions"][0], "account": "1@srv"})
    with journal.engine.begin() as conn:
        conn.execute(insert(accounts), [{"account": "1@srv", "currency": "EUR", "leverage": 30,
                                         "margin_mode": 2, "recorded_at": AT}])  # fmt: skip
    journal.close()
    decisions = rows(journal_url, "decisions")
    engine = make_engine(journal_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0006")
        assert "accounts" not in inspect(engine).get_table_names()
        assert version(journal_url) == [("0006",)]
        assert rows(journal_url, "decisions") == decisions
        Journal(journal_url).close()  # upgrades to head again
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
    assert version(journal_url) == [(head_revision(),)] == [("0007",)]
    assert rows(journal_url, "accounts") == [] and rows(journal_url, "decisions") == decisions
