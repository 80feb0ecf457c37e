"""An alias moved through MLflow's REST API (what the UI does) reaches the worker on the next bar."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.settings import TateSettings
from flows.train_flow import log_and_register
from models.training import TrainConfig, run_training
from serving.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.model_source import AliasPoller
from serving.worker import ReplayClock, Worker
from tests.servers import mlflow_server

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TateSettings, str]]:
    home = tmp_path / "home"
    market = generate_market()
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    with mlflow_server(home) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("TATE_HOME", str(home))
        yield TateSettings(), url


def set_alias_over_rest(url: str, model: str, alias: str, version: str) -> None:
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/registered-models/alias",
        data=json.dumps({"name": model, "alias": alias, "version": version}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_alias_moved_over_rest_is_traded_from_the_next_bar(
    registry: tuple[TateSettings, str], tmp_path: Path
) -> None:
    settings, url = registry
    bars = BarStore(settings.data_dir).read_bars_set("H1")
    outcome = run_training(bars, replace(TrainConfig(), num_boost_round=30))
    first = log_and_register.fn(settings, outcome, bars, "v1")
    second = log_and_register.fn(settings, outcome, bars, "v2")
    assert (first["version"], first["alias"]) == ("1", "champion")

    from flows.serve import sim_terminal

    terminal, symbols = sim_terminal(settings)
    terminal.initialize()
    clock = ReplayClock(terminal)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    worker = Worker(
        terminal,
        Mt5Broker(terminal, magic=settings.magic, now=clock.now),
        journal,
        AliasPoller(settings.model_name, aliases=("champion",), tracking_uri=url),
        WorkerMetrics(),
        clock,
        symbols,
        "H1",
    )
    assert worker.run(max_bars=3) == 3
    before = journal.read_decisions()
    assert set(before["model_version"]) == {"1"}

    set_alias_over_rest(url, settings.model_name, "champion", second["version"])
    worker.run(max_bars=1)
    after = journal.read_decisions()
    newest = after[after["bar_time"] == after["bar_time"].max()]
    assert set(newest["model_version"]) == {second["version"]}
    assert len(newest) == len(symbols)
