"""CLI commands that need no server: breaker resets are journaled, bad options are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from serving.journal import Journal


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_reset_request_is_journaled_with_who_and_why(home: Path) -> None:
    result = CliRunner().invoke(
        app, ["reset-breaker", "drift", "--by", "ops@desk", "--note", "regime checked"]
    )
    assert result.exit_code == 0, result.output
    events = Journal(f"sqlite:///{home / 'journal.sqlite'}").read_breaker_events("drift")
    assert events[["event", "by", "reason"]].values.tolist() == [
        ["reset_requested", "ops@desk", "regime checked"]
    ]


def test_unknown_breaker_is_bad_input_and_writes_nothing(home: Path) -> None:
    result = CliRunner().invoke(app, ["reset-breaker", "dirft", "--by", "ops"])
    assert result.exit_code == 2
    assert "unknown breaker 'dirft'" in result.output
    assert not (home / "journal.sqlite").exists()


def test_a_bad_tripped_policy_setting_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.serve import risk_limits
    from flows.settings import TateSettings

    monkeypatch.setenv("TATE_TRIPPED_POLICY", "panic")
    with pytest.raises(ValueError, match="tripped_policy 'panic'"):
        risk_limits(TateSettings())


@pytest.mark.parametrize(
    ("sweep", "message"),
    [("{bad", "--sweep: not JSON"), ('{"num_leaves": 7}', "--sweep: expected a JSON list")],
)
def test_a_malformed_sweep_is_bad_input(home: Path, sweep: str, message: str) -> None:
    result = CliRunner().invoke(app, ["train", "--sweep", sweep])
    assert result.exit_code == 2
    assert message in result.output
