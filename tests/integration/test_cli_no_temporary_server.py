"""Flow commands with no Prefect API run the functions the flows wrap: no temporary server.

Prefect 3 starts a temporary server (7-30 s) for a flow or task called without an API. With no
`PREFECT_API_URL` and no `tate up`, `tate ingest` and `tate validate` must still write the same
records (bars, the validation summary) while Prefect's home gets no server database and their
output never mentions a temporary server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.servers import BIN

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def run_tate(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update({"TATE_HOME": str(home), "TATE_SYMBOLS": "EURUSD,GBPUSD"})
    return subprocess.run(
        [str(BIN / "tate"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_ingest_and_validate_without_an_api_start_no_temporary_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ingested = run_tate(home, "ingest", "--source", "sim")
    validated = run_tate(home, "validate")

    for done in (ingested, validated):
        assert done.returncode == 0, done.stderr
        assert "temporary server" not in (done.stdout + done.stderr).lower()
    assert not list((home / "prefect").glob("*.db*")), "a Prefect server database was created"
    assert "ingest: EURUSD" in ingested.stderr  # progress per symbol, on stderr
    latest = json.loads((home / "reports" / "validation" / "latest.json").read_text())
    assert sorted(latest["symbols"]) == ["EURUSD", "GBPUSD"]
    assert f"verdict {latest['result_id']}" in validated.stdout
