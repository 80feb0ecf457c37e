"""prefect.yaml deployed as a desk's stack deploys it: a real Prefect server on loopback, the
process work pool created with Prefect's CLI, then `prefect --no-prompt deploy --all` from the
repository root (compose's `prefect-deploy` service runs the same two commands). What the server
then holds is read back through its API: every deployment on the pool, with the schedule,
parameters and concurrency limit `tate up` serves. Last, a real `prefect worker --run-once` on the
pool picks up a canary-gate run that was due two hours ago, runs it from the repository, and the
flow skips itself as stale instead of gating on an hour that is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.prefect_yaml import WORK_POOL
from tests.servers import BIN, REPO_ROOT, base_env, prefect_server, run_command

# Measured on a loaded 2-core machine: the server ~30-90 s, `prefect deploy --all` ~30-60 s
# (it imports every flow for its parameter schema). The bounds are several times that.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NAMES = ("validate/nightly", "retrain/on-demand", "drift-report/daily", "canary-gate/hourly")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("pool")
    with prefect_server(home) as api:
        env = base_env(home / "tate") | {
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(home / "prefect-client"),
        }
        pool = run_command(
            [str(BIN / "prefect"), "work-pool", "create", WORK_POOL, "--type", "process"],
            env, timeout_s=180,
        )  # fmt: skip
        assert pool.returncode == 0, pool.stdout + pool.stderr
        deploy = run_command(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], env, timeout_s=400,
            cwd=REPO_ROOT,
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        yield {"deployments": read_deployments(api), "api": api, "env": env}


def read_deployments(api: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            return {name: await client.read_deployment_by_name(name) for name in NAMES}

    with temporary_settings(updates={PREFECT_API_URL: api}):
        return asyncio.run(read())


def test_every_deployment_is_on_the_process_pool_running_from_the_repository(
    deployed: dict[str, Any],
) -> None:
    for name, deployment in deployed["deployments"].items():
        assert deployment.work_pool_name == WORK_POOL, name
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
        ]
    nightly = deployed["deployments"]["validate/nightly"]
    assert [s.schedule.cron for s in nightly.schedules] == ["15 0 * * *"]
    assert nightly.parameters == {"backup_journal": True}
    assert (
        "sweep"
        in deployed["deployments"]["retrain/on-demand"].parameter_openapi_schema["properties"]
    )


def test_retrainings_never_overlap_and_a_busy_gate_drops_the_next(
    deployed: dict[str, Any],
) -> None:
    retrain = deployed["deployments"]["retrain/on-demand"]
    gate = deployed["deployments"]["canary-gate/hourly"]
    assert retrain.global_concurrency_limit.limit == 1
    assert retrain.concurrency_options.collision_strategy.value == "ENQUEUE"
    assert gate.global_concurrency_limit.limit == 1
    assert gate.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert [s.schedule.cron for s in gate.schedules] == ["0 * * * *"]
    assert retrain.schedules == []


def test_the_pool_is_a_process_pool(deployed: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> Any:
        async with get_client() as client:
            return await client.read_work_pool(WORK_POOL)

    with temporary_settings(updates={PREFECT_API_URL: deployed["api"]}):
        pool = asyncio.run(read())
    assert pool.type == "process"


def test_a_worker_on_the_pool_runs_a_stale_scheduled_gate_which_skips_itself(
    deployed: dict[str, Any],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    due = datetime.now(UTC) - timedelta(hours=2)
    gate = deployed["deployments"]["canary-gate/hourly"]

    async def create() -> Any:
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(
                gate.id, state=Scheduled(scheduled_time=due)
            )
            return run.id

    async def read(run_id: Any) -> tuple[Any, list[str]]:
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            return run.state, [log.message for log in logs]

    with temporary_settings(updates={PREFECT_API_URL: deployed["api"]}):
        run_id = asyncio.run(create())
        worker = run_command(
            [str(BIN / "prefect"), "worker", "start", "--pool", WORK_POOL, "--run-once"],
            deployed["env"], timeout_s=400, cwd=REPO_ROOT,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-3000:]
        state, messages = asyncio.run(read(run_id))
    assert state.is_completed(), (state, messages, worker.stderr[-3000:])
    assert any("canary-gate: skipped: scheduled for" in m for m in messages), messages
