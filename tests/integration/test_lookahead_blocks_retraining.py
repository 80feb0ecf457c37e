"""A strategy that fails the look-ahead check never trains: the retraining stops with exit 1
before any fit, and MLflow records why."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.cli import app
from flows.errors import LookaheadFailedError
from flows.settings import TateSettings
from flows.train_flow import lookahead_step
from models.strategies import STRATEGIES
from tests.planted_strategies import PlantedStrategy

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BarStore:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    market = generate_market(symbols=("EURUSD", "GBPUSD"), delisted=None, n_days=60)
    bar_store = BarStore(TateSettings().data_dir)
    for symbol, bars in market.bars.items():
        bar_store.write_bars(symbol, "H1", bars)
    bar_store.write_universe(market.universe)
    return bar_store


def _runs(settings: TateSettings) -> list[object]:
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def test_tate_train_with_a_shift_minus_one_strategy_exits_1_and_registers_nothing(
    store: BarStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = PlantedStrategy("shift_minus_one")
    monkeypatch.setitem(STRATEGIES, planted.name, planted)

    result = CliRunner().invoke(app, ["train", "--strategy", planted.name])

    assert result.exit_code == 1, result.output
    assert "lookahead check failed on 'next_ret'" in result.output
    settings = TateSettings()
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri)
    assert client.search_model_versions() == [], "nothing fitted, nothing registered"
    (run,) = _runs(settings)
    assert run.info.run_name.endswith("-lookahead-failed")  # type: ignore[attr-defined]
    tags = run.data.tags  # type: ignore[attr-defined]
    assert tags["tate.lookahead_passed"] == "False"
    assert tags["tate.retrain_blocked"] == "lookahead"
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id, "lookahead")}  # type: ignore[attr-defined]
    assert artifacts == {"lookahead/report.md", "lookahead/summary.json"}


@pytest.mark.parametrize("defect", ["shift_minus_one", "centred_window", "whole_sample_norm"])
def test_each_planted_defect_stops_the_retraining_step(store: BarStore, defect: str) -> None:
    settings = TateSettings()
    bars = store.read_bars_set("H1")
    with pytest.raises(LookaheadFailedError, match="lookahead check failed"):
        lookahead_step.fn(settings, PlantedStrategy(defect), bars, "retrain-test")
    (run,) = _runs(settings)
    assert run.data.tags["tate.lookahead_findings"] != "0"  # type: ignore[attr-defined]


def test_a_clean_strategy_passes_the_step_on_the_training_bars(store: BarStore) -> None:
    settings = TateSettings()
    bars: dict[str, pd.DataFrame] = store.read_bars_set("H1")
    record = lookahead_step.fn(settings, STRATEGIES["lgbm_momentum"], bars, "retrain-test")
    assert record["tags"]["tate.lookahead_passed"] == "True"
    assert record["tags"]["tate.lookahead_bars"].startswith("EURUSD (")
    assert _runs(settings) == [], "a pass is recorded in the retraining's own run"
