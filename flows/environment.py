"""Point Prefect, MLflow and great-expectations at TATE_HOME before any of them is imported.

Prefect reads its settings when it is first imported, so the CLI calls `prepare_environment` before it
imports a flow module. Values the user already set win (`setdefault`). MLflow's tracking URI is not
set here: `flows.tracking.tracking_uri` passes it explicitly (the user's `MLFLOW_TRACKING_URI`, else
the store under TATE_HOME), so one process can serve several homes without leaking one into another.
"""

from __future__ import annotations

import os

from flows.settings import TateSettings


def prepare_environment(settings: TateSettings) -> None:
    """Create TATE_HOME's folders and set the ecosystem's variables to embedded defaults."""
    for folder in (
        settings.data_dir,
        settings.reports_dir,
        settings.mlflow_dir,
        settings.prefect_home,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The temporary server can take longer than Prefect's 20 s default on a busy 2-core box.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # MLflow reads DO_NOT_TRACK only when it is "true"; without this it writes ~/.config
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
