"""The registry on PostgreSQL, as the stack runs it: `mlflow/start-server.sh` (the script
`tate up` runs) with ``MLFLOW_BACKEND_STORE_URI=postgresql+psycopg://…`` on an empty database
(MLflow's own migrations build its schema), loopback only. A training run registers a version
there and sets its alias; the worker, journal on PostgreSQL too, loads it and trades it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows import serve, tracking
from flows.settings import TateSettings
from flows.train_flow import log_and_register
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, run_training
from serving.journal import Journal
from tests.postgres import Cluster
from tests.servers import mlflow_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]  # a server start and a training


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    market = generate_market(symbols=("EURUSD", "GBPUSD"), delisted=None, n_days=150)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    return home


@pytest.fixture
def registry_url(postgres_cluster: Cluster) -> Iterator[str]:
    """An empty database for MLflow's backend store."""
    name = postgres_cluster.new_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


def test_a_version_registered_and_aliased_on_postgresql_is_what_the_worker_trades(
    home: Path, registry_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", registry_url)
    with mlflow_server(home) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("TATE_HOME", str(home))
        monkeypatch.setenv("TATE_JOURNAL_URL", postgres_url)
        settings = TateSettings()
        bars = BarStore(settings.data_dir).read_bars_set("H1")
        outcome = run_training(STRATEGY, bars, replace(TrainConfig(), num_boost_round=10))
        registered = log_and_register.fn(settings, outcome, bars, "on postgresql")
        assert registered["version"] == "1"
        # a short synthetic market need not pass the gates: the alias is set as a person would
        tracking.set_alias(settings, "champion", registered["version"], by="test")

        summary = serve.run_worker(settings, max_bars=12, metrics_port=0)

    assert "champion: " in summary
    # the registry's rows are in PostgreSQL (nothing fell back to a SQLite file)
    engine = create_engine(registry_url)
    with engine.connect() as conn:
        aliases = conn.execute(
            text("SELECT name, alias, version FROM registered_model_aliases")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in aliases] == [(settings.model_name, "champion", 1)]
    assert not (home / "mlflow" / "mlflow.db").exists()
    journal = Journal(postgres_url)
    decided = journal.read_decisions()
    journal.close()
    assert set(decided["role"]) == {"champion"} and set(decided["model_version"]) == {"1"}
