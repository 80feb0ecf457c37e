"""The README's main job, as a user runs it: `tate demo`, twice, in a fresh TATE_HOME."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.servers import run_command

pytestmark = pytest.mark.e2e

TATE = str(Path(sys.executable).parent / "tate")
# One `tate demo` takes about 2 min on the 2-core build machine and about 4.5 min when other jobs
# load it (this test took 574 s at a load of 5); past this bound it is hung, not slow.
DEMO_RUN_SECONDS = 900


def run_tate(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_TRACKING"))}
    env["TATE_HOME"] = str(home)
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    return run_command([TATE, *args], env, timeout_s=DEMO_RUN_SECONDS)


def run_demo(home: Path) -> subprocess.CompletedProcess[str]:
    return run_tate(home, "demo")


def champion_orders(db: sqlite3.Connection) -> int:
    """Order events of the champion's intents."""
    query = (
        "select count(*) from order_events where intent_id in "
        "(select intent_id from decisions where role = 'champion')"
    )
    return int(db.execute(query).fetchone()[0])


def alias(client: MlflowClient, name: str) -> str:
    return str(client.get_model_version_by_alias("tate-lgbm-momentum", name).version)


@pytest.mark.timeout(2 * DEMO_RUN_SECONDS + 300)  # two demo runs, then promote and roll back
def test_demo_twice_adds_a_version_and_a_canary(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run_demo(home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    out = first.stdout
    for label in ("Data Docs", "MLflow run", "drift report", "journal", "tate up"):
        assert label in out
    assert (home / "reports" / "data_docs" / "index.html").exists()
    assert list((home / "reports" / "drift").glob("*/report.html"))
    assert (home / "reports" / "index.html").exists()
    assert "drift FLAGGED" in out, "the late regime change must be flagged on the hold-out"

    with sqlite3.connect(home / "journal.sqlite") as db:
        decisions = db.execute(
            "select count(*), count(distinct model_version) from decisions"
        ).fetchone()
        orders = db.execute("select count(*) from order_events").fetchone()[0]
        champion_first = champion_orders(db)
    assert decisions[0] > 100 and decisions[1] == 1
    assert orders > 0 and champion_first > 0

    second = run_demo(home)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-5000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    versions = client.search_model_versions("name='tate-lgbm-momentum'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert (alias(client, "champion"), alias(client, "canary")) == ("1", "2")
    trained = client.get_run(client.get_model_version("tate-lgbm-momentum", "2").run_id)
    verdicts = [
        json.loads(p.read_text()) for p in (home / "reports" / "validation").glob("*/summary.json")
    ]
    assert trained.data.tags["tate.validation_result_id"] in {v["result_id"] for v in verdicts}
    # the reports home shows both trainings and their gate verdicts, and that the demo's drift
    # was reported, not acted on
    home_page = (home / "reports" / "index.html").read_text()
    assert "v1 → champion" in home_page and "v2 → canary" in home_page
    assert "WOULD HALT (report only)" in home_page
    assert len(list((home / "reports" / "training").glob("*/equity.svg"))) == 2
    with sqlite3.connect(home / "journal.sqlite") as db:
        roles = {row[0] for row in db.execute("select distinct role from decisions")}
        champion_second = champion_orders(db) - champion_first
    assert {"champion", "canary"} <= roles
    # a second replay is a new simulated account: the champion trades it again from flat
    assert champion_second > 0

    # What a person does next in the MLflow UI, from the command line: promote, then roll back.
    promoted = run_tate(home, "promote")
    assert promoted.returncode == 0, promoted.stderr
    assert alias(client, "champion") == "2"
    assert "canary" not in client.get_registered_model("tate-lgbm-momentum").aliases
    rolled = run_tate(home, "rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert alias(client, "champion") == "1"
