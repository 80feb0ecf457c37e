"""`tate backup` copies the journal with SQLite's online backup while the worker writes: the
copy opens, verifies, and holds exactly the decisions of one moment of the journal."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.data_flows import back_up_journal
from flows.deployments import build_deployments
from flows.settings import TateSettings
from serving.journal import Journal
from serving.journal_backup import BackupFailedError, backup_journal, verify_copy
from serving.journal_integrity import note_journal
from tests.unit.test_journal_integrity import decide

AT = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TATE_HOME", str(home))
    return home


def decision_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT decision_id FROM decisions ORDER BY decision_id").fetchall()
    conn.close()
    return [str(row[0]) for row in rows]


def test_a_backup_taken_while_the_worker_writes_is_a_whole_verified_journal(home: Path) -> None:
    url = f"sqlite:///{home / 'journal.sqlite'}"
    journal = Journal(url)
    note_journal(url, home, at=AT)
    decide(journal, 500)
    stop, written = threading.Event(), [0]

    def write() -> None:  # the worker: one commit after another, on its own connection
        while not stop.is_set():
            decide(journal, 1)
            written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while written[0] < 20:  # the writer is really writing before the copy starts
            stop.wait(0.01)
        result = CliRunner().invoke(app, ["backup"])
        during = written[0]
    finally:
        stop.set()
        writer.join(timeout=60)
    assert result.exit_code == 0, result.output
    [copy] = (home / "backups").glob("journal-*.sqlite")
    assert f"journal backed up to {copy}" in result.output
    verify_copy(copy)
    copied, now = decision_ids(copy), decision_ids(home / "journal.sqlite")
    assert 500 + 20 <= len(copied) <= 500 + during + 1
    assert set(copied) <= set(now), "the copy holds the journal's own decisions"
    assert Journal(f"sqlite:///{copy}").read_decisions().shape[0] == len(copied)
    assert not list((home / "backups").glob("*.partial"))
    journal.close()


def test_a_copy_that_does_not_verify_is_refused_and_no_journal_is_nothing_to_copy(
    home: Path,
) -> None:
    (home / "copy.sqlite").write_bytes(b"\x00" * 4096)
    with pytest.raises(BackupFailedError, match=r"copy\.sqlite"):
        verify_copy(home / "copy.sqlite")
    url = f"sqlite:///{home / 'journal.sqlite'}"
    assert backup_journal(url, home, at=AT) is None, "no journal yet: nothing to copy"
    assert not (home / "backups").exists()


def test_the_nightly_validation_backs_up_the_journal(home: Path) -> None:
    settings = TateSettings()
    journal = Journal(settings.journal)
    decide(journal, 3)
    journal.close()
    said = back_up_journal.fn(settings)
    [copy] = (home / "backups").glob("journal-*.sqlite")
    assert said == f"journal backed up to {copy}"
    assert len(decision_ids(copy)) == 3
    [nightly] = [d for d in build_deployments(settings) if d.name == "nightly"]
    assert nightly.parameters == {"backup_journal": True}
