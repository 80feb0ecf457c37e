"""A journal on PostgreSQL is evidence as a file is: a database the marker knows that lost its
journal tables, or cannot be reached, is refused (exit 2, naming it, password masked) and
nothing is created in it; a first start on an empty database is admitted and remembered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from flows.errors import BAD_INPUT, exit_code
from serving.journal import Journal
from serving.journal_integrity import (
    MARKER_NAME,
    JournalRefusedError,
    admit_journal,
    note_journal,
    server_journal,
)
from tests.postgres import Cluster

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def execute(url: str, sql: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def refusal(url: str, home: Path) -> str:
    with pytest.raises(JournalRefusedError) as refused:
        admit_journal(url, home)
    assert exit_code(refused.value) == BAD_INPUT
    message = str(refused.value)
    assert str(server_journal(url)) in message and "\n" not in message
    return message


@pytest.fixture
def started(postgres_url: str, tmp_path: Path) -> tuple[str, Path]:
    """A first start on an empty database: admitted, opened (schema made), remembered."""
    home = tmp_path / "home"
    home.mkdir()
    admit_journal(postgres_url, home)  # nothing there, nothing known: a first start
    journal = Journal(postgres_url)
    note_journal(postgres_url, home, at=AT)
    journal.record_breaker_event(breaker="latency", event="trip", reason="r", at=AT, by="w")
    journal.close()
    return postgres_url, home


def test_a_started_journal_is_admitted_again_and_the_marker_names_it_without_password(
    started: tuple[str, Path],
) -> None:
    url, home = started
    admit_journal(url, home)
    marker = json.loads((home / MARKER_NAME).read_text())
    assert list(marker["journals"]) == [server_journal(url)]


def test_a_database_that_lost_its_journal_tables_is_refused_and_left_empty(
    started: tuple[str, Path],
) -> None:
    url, home = started
    execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")  # restored empty, say
    assert "holds no journal tables" in refusal(url, home)
    assert tables(url) == set(), "refusing created nothing"


def test_an_unknown_schema_revision_is_refused(started: tuple[str, Path]) -> None:
    url, home = started
    execute(url, "UPDATE alembic_version SET version_num = '9999'")
    assert "'9999', unknown to this tate" in refusal(url, home)


def test_a_known_database_that_is_gone_is_refused(
    started: tuple[str, Path], postgres_cluster: Cluster
) -> None:
    url, home = started
    postgres_cluster.drop_database(url.rsplit("/", 1)[1])
    assert "cannot be opened" in refusal(url, home)


def test_a_new_journal_adopts_the_database_knowingly_and_the_marker_says_who(
    started: tuple[str, Path],
) -> None:
    url, home = started
    execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    Journal(url).close()  # what `tate serve --new-journal --by ops` opens, admit skipped
    note_journal(url, home, at=AT, by="ops")
    admit_journal(url, home)
    marker = json.loads((home / MARKER_NAME).read_text())
    assert marker["journals"][server_journal(url)]["new_journal_by"] == "ops"
    assert marker["replacements"][-1]["by"] == "ops"
