"""Folds on a real Dask cluster (two worker processes on loopback) give the sequential run's
predictions, metrics and trees, and a retraining sweep run there registers only the model a plain
sequential `run_training` would have chosen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from mlflow import MlflowClient
from prefect import flow

from data_contracts.store import BarStore
from data_contracts.synthetic import SyntheticMarket, generate_market
from flows.bounded_waits import TaskWaitError, WaitBound
from flows.data_flows import validation_of_store
from flows.settings import TateSettings
from flows.train_flow import drop_quarantined, retrain
from flows.training_tasks import fold_runner, run_folds
from models.dataset import Dataset
from models.folds import FoldPlan, FoldResult, plan_folds
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, development_set, fit_fold, run_training, splitter

# The first flow starts Prefect's temporary server and the cluster's workers import tate: 123 s
# measured on a loaded 2-core machine for the first test, ~60 s for the others.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROUNDS = 30
SWEEP = [{"num_leaves": 7}, {"num_leaves": 15, "learning_rate": 0.05}]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_market()


@dataclass(frozen=True)
class Folds:
    dataset: Dataset
    plans: list[FoldPlan]
    config: TrainConfig
    sequential: list[FoldResult]


@pytest.fixture(scope="module")
def folds(market: SyntheticMarket) -> Folds:
    config = replace(TrainConfig(), num_boost_round=ROUNDS)
    dev = development_set(STRATEGY, market.bars, config, points=market.points)
    plans = plan_folds(dev.dataset, splitter(config))
    sequential = [fit_fold(dev.dataset, fold, config) for fold in plans]
    return Folds(dev.dataset, plans, config, sequential)


def assert_same_folds(parallel: list[FoldResult], sequential: list[FoldResult]) -> None:
    assert [f.index for f in parallel] == [f.index for f in sequential]
    for seq, par in zip(sequential, parallel, strict=True):
        np.testing.assert_array_equal(par.test, seq.test)
        np.testing.assert_array_equal(par.proba, seq.proba)
        np.testing.assert_equal(par.metrics, seq.metrics)
        assert par.booster_text == seq.booster_text
        assert par.booster_sha256 == seq.booster_sha256


def test_folds_on_a_dask_cluster_equal_the_sequential_folds(scheduler: str, folds: Folds) -> None:
    @flow(name="folds-on-dask")
    def on_dask() -> list[FoldResult]:
        with fold_runner(dask_address=scheduler) as runner:
            return run_folds(runner, folds.dataset, folds.plans, [folds.config.with_threads(1)])[0]

    with Client(scheduler) as client, get_task_stream(client=client) as stream:
        parallel = on_dask()
    assert len(stream.data) == len(folds.plans), "every fold ran on the cluster's workers"
    assert_same_folds(parallel, folds.sequential)


def test_parallel_folds_start_a_two_worker_loopback_cluster_of_single_threads(
    folds: Folds,
) -> None:
    seen: dict[str, object] = {}

    @flow(name="folds-on-a-temporary-cluster")
    def on_temporary_cluster() -> list[FoldResult]:
        with fold_runner(parallel=True) as runner:
            results = run_folds(runner, folds.dataset, folds.plans[:2], [folds.config])[0]
            workers = runner.client.scheduler_info()["workers"]
            seen["hosts"] = {info["host"] for info in workers.values()}
            seen["threads"] = [info["nthreads"] for info in workers.values()]
            return results

    parallel = on_temporary_cluster()
    assert seen == {"hosts": {"127.0.0.1"}, "threads": [1, 1]}
    assert_same_folds(parallel, folds.sequential[:2])


def test_folds_on_a_cluster_without_workers_fail_naming_it_instead_of_waiting(folds: Folds) -> None:
    """The hang this replaces: a scheduler whose workers went away holds the folds forever."""
    bound = WaitBound(timeout_seconds=600, no_workers_seconds=3, poll_seconds=0.5)
    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0") as empty:
        address = empty.scheduler_address

        @flow(name="folds-on-a-cluster-without-workers")
        def on_empty_cluster() -> list[FoldResult]:
            with fold_runner(dask_address=address) as runner:
                return run_folds(runner, folds.dataset, folds.plans[:2], [folds.config], bound)[0]

        with pytest.raises(TaskWaitError, match="has had no workers for 3 s; 2 of 2 folds") as e:
            on_empty_cluster()
    assert address in str(e.value)


def test_retrain_sweep_with_canary_on_dask_registers_what_a_sequential_run_chooses(
    scheduler: str, market: SyntheticMarket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    settings = TateSettings()
    store = BarStore(settings.data_dir)
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)

    result = retrain(num_boost_round=ROUNDS, sweep=SWEEP, leak_canary=True, dask_address=scheduler)

    raw = store.read_bars_set("H1")
    verdict = validation_of_store(settings, sorted(raw))
    assert verdict is not None
    bars, _ = drop_quarantined.fn(raw, verdict["quarantine_file"])
    config = replace(TrainConfig(), num_boost_round=ROUNDS, leak_canary=True)
    reference = run_training(STRATEGY, bars, config, sweep=SWEEP)

    client = MlflowClient(tracking_uri=settings.mlflow_db_uri)
    versions = client.search_model_versions(f"name='{settings.model_name}'")
    assert [str(v.version) for v in versions] == [result["version"]], "only the chosen model"
    version = versions[0]
    assert version.tags["booster_sha256"] == reference.booster_sha256
    assert version.tags["n_configurations"] == "2"

    run = client.get_run(result["run_id"])
    metrics, tags = run.data.metrics, run.data.tags
    assert run.data.params["n_trials"] == "2"
    assert metrics["oof_pbo"] == pytest.approx(reference.metrics["pbo"])
    assert metrics["oof_sharpe_net"] == pytest.approx(reference.metrics["sharpe_net"])
    assert metrics["oof_deflated_sharpe"] == pytest.approx(reference.metrics["deflated_sharpe"])
    history = client.get_metric_history(run.info.run_id, "sweep_oof_sharpe_net")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (c["index"], pytest.approx(c["sharpe_net"])) for c in reference.configurations
    ]
    chosen = next(c for c in reference.configurations if c["chosen"])
    assert tags["tate.sweep_chosen"] == str(chosen["index"])

    assert reference.leak_canary is not None and reference.leak_canary.detected
    assert tags["tate.leak_canary"] == "detected"
    assert metrics["leak_canary_auc_jump"] == pytest.approx(reference.leak_canary.auc_jump)
    assert metrics["leak_canary_importance_share"] == pytest.approx(
        reference.leak_canary.importance_share
    )

    folds_file = Path(
        client.download_artifacts(run.info.run_id, "cv/folds.json", str(tmp_path / "dl"))
    )
    logged = json.loads(folds_file.read_text())["folds"]
    assert [f["booster_sha256"] for f in logged] == reference.fold_boosters_sha256
