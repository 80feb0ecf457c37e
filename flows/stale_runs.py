"""Scheduled runs that start long after their time skip themselves instead of running stale.

A worker that was down overnight (or a pool whose only worker was busy) finds the night's
validation, the morning's drift report and every missed hourly canary gate waiting as Late
runs. Running them all on return would gate the canary on an hour that is gone and report
drift twice; the next scheduled run does the job with current data. So each scheduled flow
asks, first thing, whether it is more than its allowance late, and if so returns
``{"skipped": why}`` (a Completed run that says why in its result and log). A run started by
hand (the UI's Run button, `tate` commands) is scheduled for the moment it was asked for, so it
is never stale unless it, too, sat waiting that long.

Both `tate up` (``flows/deployments.py``) and the work pool (``prefect.yaml``) run these flows,
so the rule lives here, in the flows, not in either's configuration.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

# flow name -> how late a run may start and still do its job
ALLOWED_LATENESS = {
    "validate": timedelta(hours=6),
    "drift-report": timedelta(hours=6),
    "canary-gate": timedelta(minutes=30),
}


def staleness(scheduled: datetime | None, now: datetime, allowed: timedelta) -> str | None:
    """Why a run scheduled at ``scheduled`` and starting at ``now`` is stale, or None."""
    if scheduled is None:
        return None
    late = now - scheduled
    if late <= allowed:
        return None
    return (
        f"skipped: scheduled for {scheduled.isoformat()}, started {late} late "
        f"(allowed {allowed}); the next scheduled run does this with current data"
    )


def skip_if_stale(
    flow_name: str, now: datetime, logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
) -> dict[str, str] | None:
    """``{"skipped": why}`` for a stale run of a deployment, None otherwise (and outside one)."""
    from prefect.runtime import deployment, flow_run

    if flow_run.id is None or deployment.id is None:
        return None
    why = staleness(flow_run.scheduled_start_time, now, ALLOWED_LATENESS[flow_name])
    if why is None:
        return None
    logger.warning("%s: %s", flow_name, why)
    return {"skipped": why}
