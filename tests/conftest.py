"""Session-wide isolation: nothing a test does lands in the repo's ./var or the user's Prefect home.

Prefect reads its settings when first imported, so the environment is set here, before any test module
imports a flow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="tate-tests-"))
for _var in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_API_KEY"):
    os.environ.pop(_var, None)
os.environ.update(
    {
        "TATE_HOME": str(_SESSION_HOME / "home"),
        "PREFECT_HOME": str(_SESSION_HOME / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "MPLBACKEND": "Agg",
    }
)


import pytest  # noqa: E402  (after the environment above, on purpose)
from hypothesis import settings as hypothesis_settings  # noqa: E402

# CI must not go red on a seed no one chose: the suite explores the same examples every run
# (a failure reproduces as is); `TATE_HYPOTHESIS_RANDOM=1` explores new ones on a desk.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.register_profile("explore")
hypothesis_settings.load_profile("explore" if os.environ.get("TATE_HYPOTHESIS_RANDOM") else "ci")


@pytest.fixture(autouse=True)
def _no_inherited_tracking_uri() -> object:
    """`mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI, which `flows.tracking` reads as
    the user's choice; clear it around each test so no earlier TATE_HOME (a module fixture's
    included) leaks into the next test. Tests that want a server set it with monkeypatch."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    # training pins the registry URI too (mlflow.set_registry_uri: a module global and the
    # MLFLOW_REGISTRY_URI variable); left set, a later MlflowClient(tracking_uri=…) without a
    # registry_uri would read another test's registry
    if os.environ.pop("MLFLOW_REGISTRY_URI", None) is not None:
        import mlflow

        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _stop_prefect_temporary_server() -> object:
    """Flows run in-process without an API start Prefect's temporary server, which Prefect
    stops at interpreter exit, after pytest closed the streams its "Stopping temporary server"
    line goes to (a "Logging error" traceback at the end of every run). Stop it while the
    session can still log. ``_instances`` is Prefect's own registry of those servers (3.x);
    nothing is imported unless a test already did."""
    yield
    import sys

    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is None:
        return
    for server in list(server_module.SubprocessASGIServer._instances.values()):
        server.stop()


# the session's PostgreSQL cluster and the journal URL fixture (sqlite and postgresql)
from tests.postgres import journal_url, postgres_cluster, postgres_url  # noqa: E402, F401
