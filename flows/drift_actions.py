"""What a drift halt does: tag the registered model halted and, when asked, start retraining.

The worker obeys the `halted` tag at its next poll. With `TATE_DRIFT_RETRAIN` the
`retrain/on-demand` deployment starts when a Prefect API is up (never a temporary server of this
process). Nothing here clears a halt: a person does, with `tate resume --by WHO`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flows import tracking
from flows.plain_runs import task
from flows.settings import TateSettings

RETRAIN_DEPLOYMENT = "retrain/on-demand"

logger = logging.getLogger(__name__)


def prefect_api_reachable() -> bool:
    """A Prefect API is configured (not a temporary server of this process) and answers."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return False
    with get_client(sync_client=True) as client:
        return client.api_healthcheck() is None


def launch_retraining() -> str:
    """Start `retrain/on-demand` without waiting for it; the flow run's id."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = run_deployment(RETRAIN_DEPLOYMENT, timeout=0)
    if not isinstance(run, FlowRun):  # only an async caller gets a coroutine
        raise TypeError(f"run_deployment returned {type(run).__name__}, not a flow run")
    return str(run.id)


def maybe_start_retraining(
    settings: TateSettings,
    *,
    reachable: Callable[[], bool] = prefect_api_reachable,
    launch: Callable[[], str] = launch_retraining,
) -> str | None:
    """Start retraining after a halt when `TATE_DRIFT_RETRAIN` asks for it and an API is up."""
    if not settings.drift_retrain:
        return None
    if not reachable():
        logger.warning("TATE_DRIFT_RETRAIN is set but no Prefect API answers: run `tate up`")
        return None
    return launch()


@task
def act_on_drift(settings: TateSettings, version: str, reasons: list[str]) -> dict[str, Any]:
    """Halt the registered model for these reasons and, when configured, start retraining."""
    reason = "; ".join(reasons)
    tracking.halt(settings, version=version, reason=reason, by="drift-report")
    started = maybe_start_retraining(settings)
    if started:
        tracking.client(settings).set_model_version_tag(
            settings.model_name, version, "retrain_flow_run", started
        )
    return {"halted": reason, "retrain_flow_run": started}
