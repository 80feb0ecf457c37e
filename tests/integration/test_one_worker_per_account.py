"""The worker `tate serve` builds holds its account's lock: a second worker on the same account
refuses at start (exit 2, naming the holder) before it serves /metrics or touches the journal,
while a replay on its own fresh simulated account still runs on the same home."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_contracts.store import BarStore
from flows import serve, terminals
from flows.cli import app
from flows.errors import BAD_INPUT, BadSettingError, NothingServedError, exit_code
from flows.settings import TateSettings
from serving.account_lock import AccountLock, AccountLockedError
from serving.journal import Journal
from tests.factories import write_small_market
from tests.integration.test_advisory_account_lock import hold_in_subprocess as hold_advisory_lock
from tests.unit.test_account_lock import hold_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LOGIN = 4242
SIM_SERVER = "Tate-SimReplay"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TateSettings:
    home = tmp_path / "home"
    write_small_market(home)
    monkeypatch.setenv("TATE_HOME", str(home))
    return TateSettings()


def replay_start(settings: TateSettings) -> datetime:
    bars = BarStore(settings.data_dir).read_bars("EURUSD", "H1")
    return bars["time"].iloc[len(bars) // 2].to_pydatetime()


def test_a_second_worker_on_a_held_account_refuses_before_serving_anything(
    settings: TateSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminals, "new_sim_login", lambda: LOGIN)  # both replays: one account
    holder = hold_in_subprocess(settings.locks_dir, f"{LOGIN}@{SIM_SERVER}")
    try:
        with pytest.raises(AccountLockedError) as refused:
            serve.run_worker(settings, max_bars=3, metrics_port=0, start=replay_start(settings))
        # the lock is the worker's alone: other commands on the home still run beside it
        other = CliRunner().invoke(app, ["reset-breaker", "drift", "--by", "ops"])
        assert other.exit_code == 0, other.output
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert f"pid {holder.pid}, started 20" in str(refused.value)
    assert exit_code(refused.value) == BAD_INPUT
    requests = Journal(settings.journal).read_breaker_events("drift")
    assert list(requests["event"]) == ["reset_requested"], "only the CLI's row: no worker wrote"


def test_on_postgresql_a_second_worker_is_refused_by_the_databases_advisory_lock(
    settings: TateSettings, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """The journal on PostgreSQL: the lock is in the database (a worker on another host, with
    another TATE_HOME, would be refused as well), refused with the file lock's error and code."""
    monkeypatch.setattr(terminals, "new_sim_login", lambda: LOGIN)
    monkeypatch.setenv("TATE_JOURNAL_URL", postgres_url)
    on_postgres = TateSettings()
    holder = hold_advisory_lock(postgres_url, f"{LOGIN}@{SIM_SERVER}")
    try:
        with pytest.raises(AccountLockedError) as refused:
            serve.run_worker(on_postgres, max_bars=3, metrics_port=0, start=replay_start(settings))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert f"pid {holder.pid}, started 20" in str(refused.value)
    assert "advisory" in str(refused.value) and exit_code(refused.value) == BAD_INPUT
    assert not on_postgres.locks_dir.exists() or not any(on_postgres.locks_dir.iterdir())
    assert Journal(postgres_url).read_decisions().empty, "no worker wrote"


def test_a_replay_on_its_own_fresh_account_runs_beside_a_held_one(
    settings: TateSettings,
) -> None:
    held = AccountLock.acquire(settings.locks_dir, f"{LOGIN}@{SIM_SERVER}", now=datetime.now(UTC))
    # no model is registered: the replay runs its bars and then says nothing was served
    with held, pytest.raises(NothingServedError, match="3 closed bars on sim"):
        serve.run_worker(settings, max_bars=3, metrics_port=0, start=replay_start(settings))
    locks = sorted(p.name for p in settings.locks_dir.iterdir())
    assert len(locks) == 2, locks  # the held one and the replay's own, released
    mine = next(p for p in settings.locks_dir.iterdir() if not p.name.startswith(f"{LOGIN}@"))
    assert mine.read_text() == "", "a released lock names no holder"


def test_a_metrics_port_taken_at_start_is_named_with_its_variable(
    settings: TateSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("TATE_METRICS_PORT", str(port))
        with pytest.raises(BadSettingError) as refused:
            serve.run_worker(TateSettings(), max_bars=3, start=replay_start(settings))
    assert str(refused.value).startswith(f"TATE_METRICS_PORT={port}: cannot serve /metrics")
    # the lock was given back: the next worker on that account is not refused
    [lock] = settings.locks_dir.iterdir()
    assert lock.read_text() == ""
