"""The retraining deployment, run the way the Prefect UI's Run button runs it, against real servers.

A real Prefect server and a real MLflow server (started by `mlflow/start-server.sh`) on loopback; the
deployments are served from this repo by `python -m flows.deployments`, exactly what `tate up` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from tests.servers import base_env, child, mlflow_server, prefect_server

pytestmark = pytest.mark.integration

MODEL = "tate-lgbm-momentum"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("deploy") / "home"
    market = generate_market()
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    with prefect_server(home) as api_url, mlflow_server(home) as tracking_uri:
        env = base_env(home) | {
            "PREFECT_API_URL": api_url,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "PREFECT_HOME": str(home / "prefect-runner"),
        }
        command = [str(Path(env["PATH"].split(":")[0]) / "python"), "-m", "flows.deployments"]
        with child(command, env, home / "deployments.log", None):
            yield {"api": api_url, "mlflow": tracking_uri, "home": str(home)}


def run(api_url: str, name: str, parameters: dict[str, object]) -> object:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def go() -> object:
        # The runner registers its deployments a few seconds after it starts.
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            for _ in range(240):
                try:
                    await client.read_deployment_by_name(name)
                    break
                except Exception:
                    await asyncio.sleep(0.5)
        return await run_deployment(name, parameters=parameters, timeout=900, poll_interval=2)

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return asyncio.run(go())


def test_served_deployments_have_schedules_and_limits(stack: dict[str, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> dict[str, object]:
        async with get_client() as client:
            found = {}
            for name in ("validate/nightly", "retrain/on-demand", "drift-report/daily"):
                for _ in range(240):
                    try:
                        found[name] = await client.read_deployment_by_name(name)
                        break
                    except Exception:
                        await asyncio.sleep(0.5)
            return found

    with temporary_settings(updates={PREFECT_API_URL: stack["api"]}):
        deployments = asyncio.run(read())
    assert set(deployments) == {"validate/nightly", "retrain/on-demand", "drift-report/daily"}
    nightly = deployments["validate/nightly"]
    assert [s.schedule.cron for s in nightly.schedules] == ["15 0 * * *"]
    assert deployments["retrain/on-demand"].global_concurrency_limit.limit == 1


def test_retrain_deployment_with_parameters_registers_versions(stack: dict[str, str]) -> None:
    first = run(stack["api"], "retrain/on-demand", {"num_boost_round": 60})
    assert first.state.is_completed(), first.state
    client = MlflowClient(tracking_uri=stack["mlflow"])
    assert [v.version for v in client.search_model_versions(f"name='{MODEL}'")] == ["1"]
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"
    run_of_v1 = client.get_run(client.get_model_version(MODEL, "1").run_id)
    assert run_of_v1.data.params["num_boost_round"] == "60"

    control = run(
        stack["api"], "retrain/on-demand", {"num_boost_round": 60, "shuffle_labels": True}
    )
    assert control.state.is_completed(), control.state
    shuffled = client.get_model_version(MODEL, "2")
    assert shuffled.tags["gate_passed"] == "False", "a model of shuffled labels must fail the gate"
    assert "canary" not in client.get_registered_model(MODEL).aliases
