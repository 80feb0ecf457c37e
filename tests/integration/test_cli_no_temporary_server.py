"""Flow commands with no Prefect API run the functions the flows wrap: no temporary server.

Prefect 3 starts a temporary server (7-30 s) for a flow or task called without an API. With no
`PREFECT_API_URL` and no `tate up`, `tate ingest` and `tate validate` must still write the same
records (bars, the validation summary) while Prefect's home gets no server database and their
output never mentions a temporary server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    assert "ingest: 1/2 symbols (EURUSD" in ingested.stderr  # progress per symbol, on stderr
    assert "\x1b" not in ingested.stderr + validated.stderr  # not a terminal: no redraws
    latest = json.loads((home / "reports" / "validation" / "latest.json").read_text())
    assert sorted(latest["symbols"]) == ["EURUSD", "GBPUSD"]
    assert f"verdict {latest['result_id']}" in validated.stdout


READS_ONLY = """
import json, sys
from typer.testing import CliRunner
from flows.cli import app
done = CliRunner().invoke(app, sys.argv[1:])
heavy = ("prefect", "great_expectations", "scipy.signal")
print(json.dumps({"code": done.exit_code, "output": done.output,
                  "imported": [name for name in heavy if name in sys.modules]}))
"""


@pytest.mark.parametrize(
    ("command", "code"), [(["promote"], 2), (["rollback"], 2), (["status"], 0), (["trades"], 0)]
)
def test_registry_commands_import_neither_prefect_nor_great_expectations(
    tmp_path: Path, command: list[str], code: int
) -> None:
    """`promote` and `rollback` only move aliases, `status` and `trades` only read: seconds of
    imports they do not need are what made `tate promote` take 14 s to say there is no canary.
    (With a registry and a journal: tests/unit/test_cli_views.py.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", READS_ONLY, *command],
        env={**env, "TATE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["code"] == code, answer["output"]  # an empty home: nothing to promote
    assert answer["imported"] == []
