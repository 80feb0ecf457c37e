"""The registry is the control plane: an alias moved or a `halted` tag set through MLflow's REST
API (what the UI does) reaches the worker; a registry that dies mid-run does not stop trading."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.settings import TateSettings
from flows.train_flow import log_and_register
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, run_training
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.registry.signatures import KeyRing
from serving.registry.source import AliasPoller, BackgroundPoller
from serving.worker import ReplayClock, Worker
from tests.servers import kill, mlflow_server_process, post_to_mlflow

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TateSettings, str, subprocess.Popen[bytes]]]:
    home = tmp_path / "home"
    market = generate_market()
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    with mlflow_server_process(home) as (url, process):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("TATE_HOME", str(home))
        yield TateSettings(), url, process


def _ring(settings: TateSettings) -> KeyRing:
    """What `tate serve` trusts on this home: the public key training published there."""
    return KeyRing(settings.trusted_key_locations)


def set_alias_over_rest(url: str, model: str, alias: str, version: str) -> None:
    post_to_mlflow(
        url, "registered-models/alias", {"name": model, "alias": alias, "version": version}
    )


def test_alias_moved_over_rest_is_traded_from_the_next_bar(
    registry: tuple[TateSettings, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    settings, url, _ = registry
    bars = BarStore(settings.data_dir).read_bars_set("H1")
    outcome = run_training(STRATEGY, bars, replace(TrainConfig(), num_boost_round=30))
    first = log_and_register.fn(settings, outcome, bars, "v1")
    second = log_and_register.fn(settings, outcome, bars, "v2")
    assert (first["version"], first["alias"]) == ("1", "champion")

    from flows.terminals import sim_terminal

    terminal, symbols = sim_terminal(settings)
    terminal.initialize()
    clock = ReplayClock(terminal)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    worker = Worker(
        terminal,
        Mt5Broker(terminal, magic=settings.magic, now=clock.now),
        journal,
        AliasPoller.for_registry(
            settings.model_name,
            url,
            ring=_ring(settings),
            aliases=("champion",),
            cache_dir=tmp_path / "models",
        ),
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


def _wait_for(condition: Callable[[], bool]) -> bool:
    for _ in range(600):
        if condition():
            return True
        threading.Event().wait(0.05)
    return False


def test_registry_killed_mid_run_trading_goes_on_with_the_last_model(
    registry: tuple[TateSettings, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    settings, url, server = registry
    bars = BarStore(settings.data_dir).read_bars_set("H1")
    outcome = run_training(STRATEGY, bars, replace(TrainConfig(), num_boost_round=30))
    assert log_and_register.fn(settings, outcome, bars, "v1")["alias"] == "champion"

    from flows.terminals import sim_terminal

    terminal, symbols = sim_terminal(settings)
    terminal.initialize()
    clock = ReplayClock(terminal)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    poller = AliasPoller.for_registry(
        settings.model_name, url, ring=_ring(settings), cache_dir=tmp_path / "models"
    )
    source = BackgroundPoller(poller, interval_seconds=0.1).start()
    metrics = WorkerMetrics()
    worker = Worker(
        terminal,
        Mt5Broker(terminal, magic=settings.magic, now=clock.now),
        journal,
        source,
        metrics,
        clock,
        symbols,
        "H1",
    )
    try:
        assert worker.run(max_bars=3) == 3
        post_to_mlflow(url, "registered-models/set-tag", {"name": settings.model_name, "key": "halted",
                                                "value": "true"})  # fmt: skip
        assert _wait_for(lambda: source.halted is not None)

        kill(server)
        polls = source.polls
        assert _wait_for(lambda: source.polls >= polls + 2 and not source.registry_reachable)
        assert worker.run(max_bars=3) == 3
    finally:
        source.stop()
    decisions = journal.read_decisions()
    assert len(decisions) == 6 * len(symbols)
    assert set(decisions["model_version"]) == {"1"}
    assert metrics.registry.get_sample_value("model_registry_reachable") == 0.0
