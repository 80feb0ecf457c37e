"""`tate up`'s stack, used the way its users use it: deployments run as the Prefect UI's Run button
runs them, against the real Prefect server and MLflow server that `tate up` started on loopback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from tests.servers import BIN, base_env, free_port, run_command

# Measured on a loaded 2-core machine: `tate up` 107-128 s, a retraining deployment run ~60-100 s,
# `tate down` 30 s. The bounds are several times that; past them the stack is hung, not slow.
STACK_COMMAND_SECONDS = 600  # `tate up` waits up to 120 s for each server's health
DEPLOYMENT_RUN_SECONDS = 400
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

MODEL = "tate-lgbm-momentum"


def tate(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_command([str(BIN / "tate"), *args], env, timeout_s=STACK_COMMAND_SECONDS)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`tate up --no-worker` on free loopback ports; `tate down` afterwards must stop it all."""
    home = tmp_path_factory.mktemp("deploy") / "home"
    market = generate_market()
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    prefect_port, mlflow_port = free_port(), free_port()
    env = base_env(home) | {
        "TATE_PREFECT_PORT": str(prefect_port),
        "TATE_MLFLOW_PORT": str(mlflow_port),
    }
    env.pop("PREFECT_HOME", None)
    up = tate(home, env, "up", "--no-worker")
    urls = {
        "api": f"http://127.0.0.1:{prefect_port}/api",
        "mlflow": f"http://127.0.0.1:{mlflow_port}",
        "home": str(home),
        "up": up.stdout,
    }
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"http://127.0.0.1:{prefect_port}" in up.stdout
        assert urls["mlflow"] in up.stdout
        # the lines that point Prefect's and MLflow's own CLIs at this stack, real ports in them
        assert f"export PREFECT_API_URL={urls['api']}" in up.stdout
        assert f"export MLFLOW_TRACKING_URI={urls['mlflow']}" in up.stdout
        assert f"prometheus --config.file={home / 'run' / 'prometheus.yml'}" in up.stdout
        yield urls
    finally:
        down = tate(home, env, "down")
        assert down.returncode == 0, down.stdout + down.stderr
    assert {line.split()[1] for line in down.stdout.splitlines()} == {
        "prefect",
        "mlflow",
        "deployments",
    }
    assert not list((home / "run").glob("*.pid"))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{urls['mlflow']}/health", timeout=2)


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
        return await run_deployment(
            name, parameters=parameters, timeout=DEPLOYMENT_RUN_SECONDS, poll_interval=2
        )

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return asyncio.run(go())


EXPECTED = {"validate/nightly", "retrain/on-demand", "drift-report/daily", "canary-gate/hourly"}


def test_served_deployments_have_schedules_and_limits(stack: dict[str, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> dict[str, object]:
        async with get_client() as client:
            found = {}
            for name in (*EXPECTED,):
                for _ in range(240):
                    try:
                        found[name] = await client.read_deployment_by_name(name)
                        break
                    except Exception:
                        await asyncio.sleep(0.5)
            return found

    with temporary_settings(updates={PREFECT_API_URL: stack["api"]}):
        deployments = asyncio.run(read())
    assert set(deployments) == EXPECTED
    # Prefect's own CLI, given only the `export` lines `tate up` printed, sees them too
    exports = [line.split()[1] for line in stack["up"].splitlines() if "export " in line]
    env = base_env(Path(stack["home"])) | {"COLUMNS": "250"}
    env.pop("PREFECT_API_URL", None)
    env |= dict(pair.split("=", 1) for pair in exports)
    listed = run_command([str(BIN / "prefect"), "deployment", "ls"], env, timeout_s=120)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert all(name.split("/")[1] in listed.stdout for name in EXPECTED), listed.stdout
    nightly = deployments["validate/nightly"]
    gate = deployments["canary-gate/hourly"]
    assert [s.schedule.cron for s in gate.schedules] == ["0 * * * *"]
    assert gate.global_concurrency_limit.limit == 1
    assert [s.schedule.cron for s in nightly.schedules] == ["15 0 * * *"]
    assert deployments["retrain/on-demand"].global_concurrency_limit.limit == 1
    form = deployments["retrain/on-demand"].parameter_openapi_schema["properties"]
    assert {
        "symbols",
        "start",
        "end",
        "num_boost_round",
        "learning_rate",
        "sweep",
        "leak_canary",
        "parallel_folds",
        "dask_address",
    } <= set(form)


def test_retrain_deployment_with_parameters_registers_versions(stack: dict[str, str]) -> None:
    first = run(stack["api"], "retrain/on-demand", {"num_boost_round": 60, "leak_canary": True})
    assert first.state.is_completed(), first.state
    client = MlflowClient(tracking_uri=stack["mlflow"], registry_uri=stack["mlflow"])
    assert [v.version for v in client.search_model_versions(f"name='{MODEL}'")] == ["1"]
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"
    run_of_v1 = client.get_run(client.get_model_version(MODEL, "1").run_id)
    assert run_of_v1.data.params["num_boost_round"] == "60"
    assert run_of_v1.data.tags["tate.leak_canary"] == "detected"

    sweep = [{"num_leaves": 7}, {"num_leaves": 15}]
    control = run(
        stack["api"],
        "retrain/on-demand",
        {"num_boost_round": 60, "shuffle_labels": True, "sweep": sweep},
    )
    assert control.state.is_completed(), control.state
    shuffled = client.get_model_version(MODEL, "2")
    assert shuffled.tags["gate_passed"] == "False", "a model of shuffled labels must fail the gate"
    assert "FAIL: OOF deflated Sharpe" in shuffled.tags["gate_reasons"]
    swept = client.get_run(shuffled.run_id)
    assert swept.data.params["n_trials"] == "2"
    assert "oof_pbo" in swept.data.metrics
    assert "canary" not in client.get_registered_model(MODEL).aliases

    verdicts = artifacts(stack["api"], "retrain-gate-verdict")  # what the UI's Artifacts tab shows
    assert len(verdicts) == 2
    assert any("v2: gate FAILED" in v and "no alias: the gate withheld it (" in v for v in verdicts)
    assert any("v1: gate passed" in v and "alias 'champion' set" in v for v in verdicts)
    summaries = sorted(Path(stack["home"], "reports", "training").glob("*/summary.json"))
    assert [
        json.loads(p.read_text())["run_url"].startswith(stack["mlflow"]) for p in summaries
    ] == [
        True,
        True,
    ]


def artifacts(api_url: str, key: str) -> list[str]:
    """The markdown of every Prefect artifact under ``key``, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> list[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
        return [str(a.data) for a in sorted(found, key=lambda a: a.created or 0)]

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return asyncio.run(read())
