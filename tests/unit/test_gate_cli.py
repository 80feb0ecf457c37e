"""`tate gate` without a registry or a canary: nothing to judge is a hold (exit 0), and bad
gate settings are named before anything runs (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return tmp_path / "home"


def test_gate_with_no_canary_holds_and_exits_0(home: Path) -> None:
    result = CliRunner().invoke(app, ["gate"])
    assert result.exit_code == 0, result.output
    assert "hold: nothing to gate" in result.output and "no champion and no canary" in result.output


def test_falling_gate_stages_are_refused_naming_the_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TATE_GATE_STAGES", "[0.5, 0.1]")
    result = CliRunner().invoke(app, ["gate"])
    assert result.exit_code == 2
    assert "TATE_GATE_STAGES" in result.output
