"""`tate serve` run the way people run it: the installed command as a subprocess, from an empty
folder, with an empty HOME and only TATE_HOME set. (The worker `tate up` starts, the same way:
test_worker_under_up.py, on its shared stack.)

Earlier tests called the worker in-process after a fixture had set MLflow's process-global
tracking URI, which hid that a worker started on its own resolved its models through
MLflow's default registry (``./mlflow.db`` of the folder it was started in) and traded
nothing while saying "ok".
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows import tracking
from flows.settings import TateSettings
from flows.train_flow import log_and_register
from models.packaging import DIGEST_TAG
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, run_training
from serving.execution.store import IntentJournal
from serving.journal import Journal
from tests.servers import BIN

pytestmark = pytest.mark.integration

MODEL = "tate-lgbm-momentum"


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A demo-like home: the synthetic market, v1 as champion and v2 as canary."""
    home = tmp_path_factory.mktemp("serve") / "home"
    market = generate_market()
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = TateSettings()
        bars = store.read_bars_set("H1")
        outcome = run_training(STRATEGY, bars, replace(TrainConfig(), num_boost_round=30))
        first = log_and_register.fn(settings, outcome, bars, "v1")
        second = log_and_register.fn(settings, outcome, bars, "v2")
        assert first["alias"] == "champion"
        tracking.set_alias(settings, "canary", second["version"], by="test")
    yield home


def copy_home(home: Path, to: Path) -> Path:
    """A home of its own for a test that changes it (the registry keeps pointing at the
    original's artifact files, which nobody edits)."""
    return Path(shutil.copytree(home, to / "home"))


def as_a_person(home: Path, tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path, Path]:
    """Only TATE_HOME (plus what a test names), an empty HOME and an empty working folder."""
    user_home, folder = tmp_path / "user-home", tmp_path / "elsewhere"
    user_home.mkdir()
    folder.mkdir()
    env = {"TATE_HOME": str(home), "HOME": str(user_home), "PATH": "/usr/bin:/bin", **extra}
    return env, user_home, folder


def tate(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tate"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def decisions(home: Path) -> pd.DataFrame:
    journal = Journal(f"sqlite:///{home / 'journal.sqlite'}")
    try:
        return journal.read_decisions()
    finally:
        journal.close()


@pytest.mark.timeout(600)
def test_tate_serve_from_a_foreign_folder_trades_the_registry_of_tate_home(
    trained_home: Path, tmp_path: Path
) -> None:
    home = copy_home(trained_home, tmp_path)
    env, user_home, folder = as_a_person(home, tmp_path)

    done = tate(env, folder, "serve", "--terminal", "sim", "--bars", "40", "--metrics-port", "0")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "champion: " in done.stdout and "canary: " in done.stdout
    made = decisions(home)
    by_role = made.groupby("role")["model_version"].agg(set).to_dict()
    assert by_role == {"champion": {"1"}, "canary": {"2"}}
    (account,) = set(made["account"])  # login@server of the replay's simulated account
    assert "@" in account
    journal = Journal(f"sqlite:///{home / 'journal.sqlite'}")
    orders = IntentJournal(journal, account).read_orders()
    journal.close()
    dealt = orders[(orders["state"] == "filled") & (orders["deal"] > 0)]
    assert not dealt.empty, "no order was dealt on the simulated account"
    assert list(folder.iterdir()) == [], "tate serve wrote into the folder it was started from"
    assert list(user_home.iterdir()) == [], "tate serve wrote into HOME"
    # stderr is a pipe here: the replay's progress is a few plain log lines, nothing redrawn
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    progress = [line for line in done.stderr.splitlines() if "replay: " in line]
    assert 1 <= len(progress) <= 10 and "replay: 40/40 bars" in progress[-1]
    # not a terminal: the log is JSON lines, each trade once at INFO, and a normal start
    # (a new simulated account over the home's journal) says nothing at ERROR
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    trades = [line for line in logged if line.get("trade")]
    assert len(trades) == len(dealt) and {t["level"] for t in trades} == {"INFO"}
    assert {"symbol", "side", "volume", "price", "role", "intent_id"} <= set(trades[0])
    assert not [line for line in logged if line["level"] in ("ERROR", "CRITICAL")]


@pytest.mark.timeout(600)
def test_tate_serve_on_a_terminal_draws_the_replay_as_a_bar_to_its_end(
    trained_home: Path, tmp_path: Path
) -> None:
    """stderr on a pseudo-terminal, as a person runs it: a bar counting bars done / total."""
    home = copy_home(trained_home, tmp_path)
    env, _user_home, folder = as_a_person(home, tmp_path, COLUMNS="120")
    leader, follower = pty.openpty()
    args = ["serve", "--terminal", "sim", "--bars", "40", "--metrics-port", "0"]
    with subprocess.Popen(
        [str(BIN / "tate"), *args], env=env, cwd=folder, stdout=subprocess.PIPE, stderr=follower
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)  # drained as it comes: a full pty blocks the child
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout = process.stdout.read().decode() if process.stdout else ""
        code = process.wait(timeout=300)
    os.close(leader)
    shown = b"".join(chunks).decode(errors="replace")
    assert code == 0, stdout + shown
    assert "\x1b[" in shown and "replay" in shown
    assert "40/40" in shown  # the bar reached the total the worker processed
    # on a terminal the log is short text lines, not JSON: time, level, logger, message, extras
    plain = shown.replace("\r\n", "\n")
    assert '"level"' not in plain and " ERROR " not in plain
    assert re.search(r"\d\d:\d\d:\d\d INFO +worker +trade (champion|canary) \w+ (buy|sell) ", plain)
    assert re.search(r" symbol=\w+ role=(champion|canary) side=(buy|sell) volume=", plain)
    assert "champion: " in stdout


@pytest.mark.timeout(600)
def test_tate_serve_with_the_journal_on_postgresql_writes_there_and_tate_trades_reads_it(
    trained_home: Path, tmp_path: Path, postgres_url: str
) -> None:
    """TATE_JOURNAL_URL names a PostgreSQL database: the worker migrates it, journals every
    decision and order there (none in TATE_HOME), and `tate trades` reads them back."""
    home = copy_home(trained_home, tmp_path)
    env, _, folder = as_a_person(home, tmp_path, TATE_JOURNAL_URL=postgres_url)

    done = tate(env, folder, "serve", "--terminal", "sim", "--bars", "40", "--metrics-port", "0")

    assert done.returncode == 0, done.stdout + done.stderr
    assert not (home / "journal.sqlite").exists(), "the journal went to TATE_HOME"
    journal = Journal(postgres_url)
    try:
        made = journal.read_decisions()
        (account,) = set(made["account"])
        orders = IntentJournal(journal, account).read_orders()
    finally:
        journal.close()
    assert made.groupby("role")["model_version"].agg(set).to_dict() == {
        "champion": {"1"},
        "canary": {"2"},
    }
    filled = orders[orders["state"] == "filled"]
    assert not filled.empty, "no order was filled on the simulated account"
    listed = tate(env, folder, "trades", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    trades = json.loads(listed.stdout)
    assert len(trades) == len(filled) and {t["account"] for t in trades} == {account}
    assert {t["role"] for t in trades} <= {"champion", "canary"}


@pytest.mark.timeout(600)
def test_tate_serve_with_no_loadable_model_says_why_once_and_exits_1(
    trained_home: Path, tmp_path: Path
) -> None:
    home = copy_home(trained_home, tmp_path)
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)  # never the process's default registry
    for version in ("1", "2"):  # the registry says something the files do not match
        client.set_model_version_tag(MODEL, version, DIGEST_TAG, "0" * 64)
    env, _user_home, folder = as_a_person(home, tmp_path, TATE_REPLAY_REFRESH_BARS="1")

    done = tate(env, folder, "serve", "--terminal", "sim", "--bars", "30", "--metrics-port", "0")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("no role decided a single bar: no model to trade, refusing: ")
    assert "champion -> 'tate-lgbm-momentum' v1 failed to load" in done.stderr
    assert "differs from tate.model_sha256" in done.stderr
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    failed = [r["message"] for r in logs if "failed (retrying with back-off)" in r["message"]]
    assert len(failed) == 2, failed  # once per version, not once per bar
    refusals = [r for r in logs if r["message"].startswith("no model to trade")]
    assert len(refusals) == 1
    assert decisions(home).empty
