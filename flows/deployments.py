"""The deployments `tate up` serves from this repo: what a user runs from the Prefect UI.

- `validate/nightly`: the data contracts every night (and on demand), after a verified back-up
  of the journal (`TATE_HOME/backups`);
- `retrain/on-demand`: retraining with parameters from the UI's Run form (symbols, date range,
  LightGBM overrides or a sweep of them, the leakage canary, folds on Dask), one at a time;
- `drift-report/daily`: the champion's drift report every morning (data, prediction and concept
  drift); it halts the model when a key feature or concept drift says so, and with
  `TATE_DRIFT_RETRAIN` starts `retrain/on-demand` (`flows/drift_actions.py`).
- `canary-gate/hourly`: the canary's live evidence against the champion's, acted on
  (``TATE_GATE_CRON``, hourly by default).
"""

from __future__ import annotations

from typing import Any

from flows.environment import prepare_environment
from flows.settings import TateSettings

NIGHTLY_VALIDATION_CRON = "15 0 * * *"
DAILY_DRIFT_CRON = "45 0 * * *"
TIMEZONE = "UTC"


def build_deployments(settings: TateSettings | None = None) -> list[Any]:
    """The deployments, for `tate up` to serve and `flows/prefect_yaml.py` to declare on a pool.

    Retraining runs one at a time, a second request waiting its turn (ENQUEUE); a canary gate
    due while one still runs is dropped (CANCEL_NEW): the next hour's gate sees the same journal.
    Scheduled runs that start far too late skip themselves (`flows/stale_runs.py`).
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    from flows.canary_gate import canary_gate
    from flows.data_flows import validate
    from flows.drift_flow import drift_report
    from flows.train_flow import retrain

    return [
        validate.to_deployment(
            name="nightly",
            schedule=Cron(NIGHTLY_VALIDATION_CRON, timezone=TIMEZONE),
            parameters={"backup_journal": True},
            description=(
                "A verified back-up of the journal (TATE_HOME/backups), then the data contracts "
                "over the bar store; Data Docs under TATE_HOME/reports."
            ),
            tags=["tate", "data"],
        ),
        retrain.to_deployment(
            name="on-demand",
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            ),
            description=(
                "Retrain (optionally a sweep of LightGBM configurations, folds on Dask), register "
                "the chosen version, gate it into canary."
            ),
            tags=["tate", "training"],
        ),
        drift_report.to_deployment(
            name="daily",
            schedule=Cron(DAILY_DRIFT_CRON, timezone=TIMEZONE),
            parameters={"role": "champion"},
            description=(
                "Drift of the champion against its training (features, predictions, realised "
                "outcomes); halts it on a key feature's PSI or concept drift."
            ),
            tags=["tate", "monitoring"],
        ),
        canary_gate.to_deployment(
            name="hourly",
            schedule=Cron((settings or TateSettings()).gate_cron, timezone=TIMEZONE),
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            description="Canary vs champion from the journal: promote, widen, hold or roll back.",
            tags=["tate", "monitoring"],
        ),
    ]


def main() -> None:
    """Serve the deployments until interrupted (needs PREFECT_API_URL pointing at a server)."""
    settings = TateSettings()
    prepare_environment(settings)
    from prefect import serve

    serve(*build_deployments(settings), limit=2, print_starting_message=True)


if __name__ == "__main__":
    main()
