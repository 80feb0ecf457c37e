"""A journal that is not the whole journal it was is refused, read-only, naming the file; a
fresh start moves the old file aside and the marker records who did it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.errors import BAD_INPUT, exit_code
from serving.journal import Journal
from serving.journal_integrity import (
    MARKER_NAME,
    JournalRefusedError,
    admit_journal,
    note_journal,
    replace_journal,
    sqlite_file,
)

BAR = datetime(2026, 1, 5, 10, tzinfo=UTC)
AT = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def decide(journal: Journal, n: int) -> None:
    for i in range(n):
        journal.record_decision(
            bar_time=BAR,
            symbol="EURUSD",
            role="champion",
            model_name="m",
            model_version="1",
            features={"ret_1": 0.001},
            signal=1,
            confidence=0.7,
            size=0.35,
            intent_id=f"intent-{i}",
        )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def url(home: Path) -> str:
    """A journal tate created (the marker knows it) holding 200 decisions, closed cleanly."""
    home.mkdir()
    url = f"sqlite:///{home / 'journal.sqlite'}"
    admit_journal(url, home)
    journal = Journal(url)
    note_journal(url, home, at=AT)
    decide(journal, 200)
    journal.close()
    return url


def refusal(url: str, home: Path) -> str:
    with pytest.raises(JournalRefusedError) as refused:
        admit_journal(url, home)
    assert exit_code(refused.value) == BAD_INPUT
    text = str(refused.value)
    assert str(sqlite_file(url)) in text, "the file is named"
    assert "\n" not in text
    return text


def test_a_whole_journal_is_admitted_and_a_first_start_needs_no_file(
    url: str, home: Path, tmp_path: Path
) -> None:
    admit_journal(url, home)
    admit_journal(f"sqlite:///{tmp_path / 'never-created.sqlite'}", home)  # first start


def test_a_journal_truncated_to_zero_bytes_is_refused_even_without_a_marker(
    url: str, home: Path
) -> None:
    path = sqlite_file(url)
    assert path is not None
    path.write_bytes(b"")
    assert "empty (0 bytes)" in refusal(url, home)
    (home / MARKER_NAME).unlink()  # a home from before the marker: still a truncation
    assert "empty" in refusal(url, home)
    assert path.read_bytes() == b""


def test_a_missing_journal_the_marker_knows_is_refused(url: str, home: Path) -> None:
    path = sqlite_file(url)
    assert path is not None
    path.unlink()
    assert "missing" in refusal(url, home)
    assert not path.exists(), "checking never creates the file"


@pytest.mark.parametrize("damage", ["half", "garbage", "zeroed-header"])
def test_a_corrupt_journal_is_refused_and_left_byte_for_byte(
    url: str, home: Path, damage: str
) -> None:
    path = sqlite_file(url)
    assert path is not None
    whole = path.read_bytes()
    damaged = {
        "half": whole[: len(whole) // 2],
        "garbage": b"\x8f not a database \x00" * 500,
        "zeroed-header": b"\x00" * 100 + whole[100:],
    }[damage]
    path.write_bytes(damaged)
    text = refusal(url, home)
    assert "corrupt" in text or "cannot be opened" in text, text
    assert path.read_bytes() == damaged
    assert sorted(p.name for p in path.parent.iterdir()) == [MARKER_NAME, path.name]


def test_a_schema_revision_this_tate_does_not_know_is_refused(url: str, home: Path) -> None:
    path = sqlite_file(url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    conn.close()
    assert "9999_from_the_future" in refusal(url, home)


def test_a_journal_with_no_tables_where_one_existed_is_refused(url: str, home: Path) -> None:
    path = sqlite_file(url)
    assert path is not None
    path.unlink()
    sqlite3.connect(path).execute("PRAGMA user_version = 1").connection.close()  # a bare db
    assert "no tables" in refusal(url, home)


def test_a_new_journal_moves_the_old_aside_and_the_marker_says_who(url: str, home: Path) -> None:
    path = sqlite_file(url)
    assert path is not None
    path.write_bytes(b"")  # the refused journal the operator gives up on
    moved = replace_journal(url, home, at=AT)
    assert moved is not None and moved.exists() and moved.read_bytes() == b""
    assert not path.exists()
    journal = Journal(url)
    note_journal(url, home, at=AT, by="alice", replaced=moved)
    journal.close()
    admit_journal(url, home)
    marker = json.loads((home / MARKER_NAME).read_text())
    assert marker["journals"][str(path)]["new_journal_by"] == "alice"
    assert marker["replacements"] == [
        {"path": str(path), "at": AT.isoformat(), "by": "alice", "moved_to": str(moved)}
    ]


def test_no_opener_of_the_journal_recreates_a_truncated_one(url: str, home: Path) -> None:
    path = sqlite_file(url)
    assert path is not None
    path.write_bytes(b"")
    with pytest.raises(JournalRefusedError, match="empty"):
        Journal(url)  # e.g. `tate reset-breaker`, a flow reading decisions
    assert path.read_bytes() == b""


def test_a_journal_a_killed_worker_left_with_its_wal_is_admitted(url: str, home: Path) -> None:
    journal = Journal(url)  # still open: its last commits live in the -wal file only
    decide(journal, 10)
    path = sqlite_file(url)
    assert path is not None and path.with_name(path.name + "-wal").stat().st_size > 0
    admit_journal(url, home)
    decide(journal, 1)  # and the writer is not disturbed by the check
    journal.close()


def test_every_opener_refuses_a_corrupt_journal_naming_it(url: str, home: Path) -> None:
    path = sqlite_file(url)
    assert path is not None
    half = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(half)
    with pytest.raises(JournalRefusedError) as refused:
        Journal(url)  # e.g. `tate reset-breaker`: one line naming the file, not a traceback
    assert str(path) in str(refused.value) and exit_code(refused.value) == BAD_INPUT
