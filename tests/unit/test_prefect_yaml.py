"""prefect.yaml declares on the work pool exactly what `tate up` serves, and stale runs skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from flows.deployments import build_deployments
from flows.prefect_yaml import PREFECT_YAML, WORK_POOL, default_settings, render
from flows.stale_runs import ALLOWED_LATENESS, staleness


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    return {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}


def test_the_committed_prefect_yaml_is_what_the_served_deployments_generate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TATE_GATE_CRON", "*/5 * * * *")  # the file must not depend on it
    assert PREFECT_YAML.read_text() == render(build_deployments(default_settings())), (
        "prefect.yaml is stale: run `.venv/bin/python -m flows.prefect_yaml` and commit it"
    )


def test_every_served_deployment_is_declared_on_the_pool_with_its_schedule_and_limit(
    declared: dict[str, Any],
) -> None:
    served = {d.name: d for d in build_deployments(default_settings())}
    assert set(declared) == set(served) == {"nightly", "on-demand", "daily", "hourly"}
    for name, deployment in served.items():
        entry = declared[name]
        assert entry["entrypoint"] == deployment.entrypoint
        assert entry["parameters"] == deployment.parameters
        assert entry["work_pool"] == {"name": WORK_POOL}
        assert [s["cron"] for s in entry["schedules"]] == [
            s.schedule.cron for s in deployment.schedules
        ]
    # two retrainings never overlap: the second waits; a gate due while one runs is dropped
    assert declared["on-demand"]["concurrency_limit"] == {
        "limit": 1,
        "collision_strategy": "ENQUEUE",
    }
    assert declared["hourly"]["concurrency_limit"] == {
        "limit": 1,
        "collision_strategy": "CANCEL_NEW",
    }
    assert declared["nightly"]["schedules"][0]["cron"] == "15 0 * * *"


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("late", "stale"),
    [(timedelta(0), False), (timedelta(minutes=30), False), (timedelta(minutes=31), True)],
)
def test_a_gate_run_more_than_its_allowance_late_is_stale(late: timedelta, stale: bool) -> None:
    why = staleness(NOW - late, NOW, ALLOWED_LATENESS["canary-gate"])
    assert (why is not None) == stale
    if why:
        assert "0:31:00 late" in why and "allowed 0:30:00" in why


def test_a_run_with_no_schedule_is_never_stale() -> None:
    assert staleness(None, NOW, timedelta(0)) is None


def test_every_scheduled_deployment_has_an_allowance() -> None:
    scheduled = {d.flow_name for d in build_deployments(default_settings()) if d.schedules}
    assert scheduled == set(ALLOWED_LATENESS)
