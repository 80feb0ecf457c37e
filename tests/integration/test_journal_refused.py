"""A damaged journal is refused by `tate serve` as people run it (the installed command, a
foreign folder): exit 2, one line naming the file, no traceback, the file byte for byte as
found; `--new-journal --by WHO` moves it aside (never deleted) and records who."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_contracts.store import BarStore
from serving.journal import Journal
from serving.journal_integrity import MARKER_NAME, note_journal
from tests.factories import write_small_market
from tests.integration.test_settings_refused import run_tate
from tests.unit.test_journal_integrity import decide

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with bars and a journal of 300 decisions the marker knows."""
    home = tmp_path / "home"
    write_small_market(home)
    url = f"sqlite:///{home / 'journal.sqlite'}"
    journal = Journal(url)
    note_journal(url, home, at=datetime.now(UTC))
    decide(journal, 300)
    journal.close()
    return home


def damage(path: Path, how: str) -> bytes:
    whole = path.read_bytes()
    damaged = {
        "truncated": b"",
        "half-truncated": whole[: len(whole) // 2],
        "garbage": bytes(range(256)) * 64,
    }[how]
    path.write_bytes(damaged)
    return damaged


@pytest.mark.parametrize("how", ["truncated", "half-truncated", "garbage"])
def test_serve_refuses_a_damaged_journal_naming_it_and_leaves_it_as_found(
    tmp_path: Path, home: Path, how: str
) -> None:
    path = home / "journal.sqlite"
    damaged = damage(path, how)
    done = run_tate(tmp_path, {"TATE_HOME": str(home)}, "serve", "--bars", "3")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"tate: journal {path} is "), line
    assert path.read_bytes() == damaged, "the evidence is untouched"
    assert not path.with_name("journal.sqlite-wal").exists()
    assert not (home / "locks").exists(), "refused before the account's lock or anything else"


def test_new_journal_moves_the_old_one_aside_and_records_who(tmp_path: Path, home: Path) -> None:
    path = home / "journal.sqlite"
    damaged = damage(path, "half-truncated")
    env = {"TATE_HOME": str(home)}
    bars = BarStore(home / "data").read_bars("EURUSD", "H1")
    start = ("--start", bars["time"].iloc[len(bars) // 2].isoformat(), "--metrics-port", "0")
    bare = run_tate(tmp_path, env, "serve", "--bars", "3", "--new-journal")
    assert bare.returncode == 2 and "--new-journal needs --by WHO" in bare.stderr
    assert path.read_bytes() == damaged
    done = run_tate(tmp_path, env, "serve", "--bars", "3", *start, "--new-journal", "--by", "alice")
    # no model is registered in this home: the replay runs and then says nothing was served
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no role decided a single bar" in done.stderr
    [moved] = home.glob("journal.sqlite.replaced-*")
    assert moved.read_bytes() == damaged, "moved aside, never deleted"
    marker = json.loads((home / MARKER_NAME).read_text())
    [replacement] = marker["replacements"]
    assert replacement["by"] == "alice" and replacement["moved_to"] == str(moved)
    logged = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    assert any("new journal" in x["message"] and "alice" in x["message"] for x in logged)
    assert Journal(f"sqlite:///{path}").read_decisions().empty, "a new, whole journal"
    again = run_tate(tmp_path, env, "serve", "--bars", "3", *start)
    assert again.returncode == 1, again.stderr  # the new journal is admitted as it is
