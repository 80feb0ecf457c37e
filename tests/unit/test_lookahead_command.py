"""`tate lookahead`: every shipped strategy passes, a planted defect exits 1 naming the feature
and its first timestamp, and the report is written under reports/lookahead/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from models.strategies import STRATEGIES
from tests.planted_strategies import PlantedStrategy


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _summary(home: Path) -> dict[str, object]:
    (summary,) = (home / "reports" / "lookahead").glob("*/summary.json")
    loaded: dict[str, object] = json.loads(summary.read_text())
    return loaded


def test_without_a_strategy_every_shipped_strategy_is_checked_and_passes(home: Path) -> None:
    result = CliRunner().invoke(app, ["lookahead"])
    assert result.exit_code == 0, result.output
    for name in STRATEGIES:
        assert f"{name}: passed" in result.output
    checked = _summary(home)["strategies"]
    assert isinstance(checked, list)
    assert sorted(s["strategy"] for s in checked) == sorted(STRATEGIES)
    assert all(s["passed"] for s in checked)
    assert (home / "reports" / "index.html").read_text().count("lookahead") >= 1


@pytest.mark.parametrize(
    ("defect", "feature"),
    [
        ("shift_minus_one", "next_ret"),
        ("centred_window", "ma_gap_centred"),
        ("whole_sample_norm", "ret_z"),
    ],
)
def test_a_planted_defect_exits_1_naming_feature_and_first_timestamp(
    home: Path, monkeypatch: pytest.MonkeyPatch, defect: str, feature: str
) -> None:
    planted = PlantedStrategy(defect)
    monkeypatch.setitem(STRATEGIES, planted.name, planted)
    result = CliRunner().invoke(app, ["lookahead", "--strategy", planted.name])
    assert result.exit_code == 1, result.output
    assert f"lookahead check failed on '{feature}' at 20" in result.output
    (finding,) = [
        f
        for f in _summary(home)["strategies"][0]["findings"]  # type: ignore[index]
        if f["feature"] == feature
    ]
    assert finding["check"] == "lookahead"
    assert feature in next((home / "reports" / "lookahead").glob("*/report.md")).read_text()


def test_too_short_a_warmup_exits_1_with_the_warmup_needed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = PlantedStrategy("short_warmup")
    monkeypatch.setitem(STRATEGIES, planted.name, planted)
    result = CliRunner().invoke(app, ["lookahead", "--strategy", planted.name])
    assert result.exit_code == 1, result.output
    assert "recursive check failed on 'mean_40'" in result.output
    assert "needs a warm-up of 40 bars" in result.output


def test_an_unknown_strategy_is_bad_input_naming_the_shipped_ones(home: Path) -> None:
    result = CliRunner().invoke(app, ["lookahead", "--strategy", "nope"])
    assert result.exit_code == 2
    assert "unknown strategy 'nope'" in result.output
    assert "lgbm_momentum" in result.output


def test_train_with_an_unknown_strategy_is_bad_input_before_the_flow_starts(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import train_flow

    called: list[object] = []
    monkeypatch.setattr(train_flow, "retrain", lambda **kwargs: called.append(kwargs))
    result = CliRunner().invoke(app, ["train", "--strategy", "nope"])
    assert result.exit_code == 2
    assert "unknown strategy 'nope'" in result.output
    assert called == []
