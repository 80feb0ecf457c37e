"""Every `TATE_*` setting with a bad value is refused as people meet it: the installed `tate`,
started from a foreign folder with an empty HOME and only TATE_HOME plus the bad variable set,
exits 2 with one line naming the variable, before any server or child process starts (no
Prefect home, no MLflow database: nothing is created under TATE_HOME at all)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from flows.settings import TateSettings
from tests.servers import BIN

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# One realistic mistake per setting; "{tmp}" is the test's own folder.
BAD_VALUES: dict[str, str] = {
    "TATE_HOME": "{tmp}/a-file/home",
    "TATE_TIMEFRAME": "X9",
    "TATE_SYMBOLS": "EUR/USD,GBPUSD",
    "TATE_SEED": "-1",
    "TATE_MODEL_NAME": "",
    "TATE_EXPERIMENT": "",
    "TATE_SERVER_TIME": "garbage",
    "TATE_MAGIC": "-5",
    "TATE_DEVIATION_POINTS": "-1",
    "TATE_CANARY_FRACTION": "2",
    "TATE_MAX_VOLUME": "0",
    "TATE_METRICS_HOST": "0.0.0.0",
    "TATE_METRICS_PORT": "70000",
    "TATE_JOURNAL_URL": "postgres-ql://tate:s3cret-pw@db/journal",
    "TATE_POLL_SECONDS": "-1",
    "TATE_REPLAY_REFRESH_BARS": "0",
    "TATE_PREFECT_PORT": "0",
    "TATE_ACCOUNT_MODE": "both",
    "TATE_SIM_BALANCE": "-100",
    "TATE_SIM_PACE_SECONDS": "0",
    "TATE_MT5LINUX_HOST": "10.1.2.3",
    "TATE_MT5LINUX_PORT": "99999",
    "TATE_MLFLOW_PORT": "http",
    "TATE_TRIPPED_POLICY": "panic",
    "TATE_DAILY_LOSS_LIMIT": "-5",
    "TATE_LATENCY_SLO_SECONDS": "inf",
    "TATE_PSI_THRESHOLD": "nan",
    "TATE_DRIFT_SIZING": "maybe",
    "TATE_LOG_LEVEL": "LOUD",
    "TATE_LOG_FORMAT": "xml",
    "TATE_ALLOW_REMOTE_BINDS": "maybe",
    "TATE_SIGNING_KEY": "{tmp}/no-such-dir/signing.key",
    "TATE_TRUSTED_KEYS": "{tmp}/no-such.pub",
    "TATE_REVOKED_KEYS": "not-a-key-id",
    "TATE_LATENCY_SLO_TARGET": "1.5",
    "TATE_EXECUTION_SLO_TARGET": "99.9",
    "TATE_SLO_WINDOW_DAYS": "0",
    "TATE_GATE_CRON": "every hour",
    "TATE_GATE_MIN_BARS": "0",
    "TATE_GATE_MIN_TRADES": "1",
    "TATE_GATE_ALPHA": "0.7",
    "TATE_GATE_SLIPPAGE_MARGIN_POINTS": "-1",
    "TATE_GATE_ERROR_RATE_MARGIN": "2",
    "TATE_GATE_LATENCY_MARGIN_SECONDS": "-0.1",
    "TATE_GATE_STAGES": "[0.5, 0.1]",
    "TATE_DRIFT_KEY_FEATURES": "0",
    "TATE_CONCEPT_DRIFT_Z": "-3",
    "TATE_CONCEPT_DRIFT_MIN_OUTCOMES": "0",
    "TATE_DRIFT_RETRAIN": "sometimes",
}


def run_tate(
    tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    user_home, folder = tmp_path / "user-home", tmp_path / "elsewhere"
    user_home.mkdir(exist_ok=True)
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(BIN / "tate"), *args],
        env={"HOME": str(user_home), "PATH": "/usr/bin:/bin", **env},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert list(folder.iterdir()) == [], "tate wrote into the folder it was started from"
    return done


def test_every_setting_has_a_bad_value_here() -> None:
    """A new setting needs its case: the table below is what proves it is checked."""
    assert {f"TATE_{name.upper()}" for name in TateSettings.model_fields} == set(BAD_VALUES)


@pytest.mark.parametrize("variable", sorted(BAD_VALUES))
def test_a_bad_setting_exits_2_naming_it_before_anything_starts(
    tmp_path: Path, variable: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    home = tmp_path / "home"
    value = BAD_VALUES[variable].format(tmp=tmp_path)
    env = {"TATE_HOME": str(home), variable: value}
    done = run_tate(tmp_path, env, "serve", "--bars", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"tate: bad setting {variable}"), line
    assert "s3cret-pw" not in line
    if variable != "TATE_JOURNAL_URL":
        assert repr(value) in line, "the value is named as well"
    assert not (home / "prefect").exists() and not list(home.rglob("mlflow.db"))
    assert not home.exists() or variable == "TATE_HOME", "settings are checked before mkdir"


def test_a_comma_separated_symbol_list_is_read_as_people_write_it(tmp_path: Path) -> None:
    env = {"TATE_HOME": str(tmp_path / "home"), "TATE_SYMBOLS": "EURUSD, GBPUSD"}
    done = run_tate(tmp_path, env, "train", "--symbol", "XAUEUR")
    assert done.returncode == 2, done.stderr
    assert "no bars stored" in done.stderr, "the settings were accepted; the store said no"


def test_a_remote_bind_is_accepted_when_opted_in_and_warned_about(tmp_path: Path) -> None:
    with socket.socket() as taken:  # `up` stops at its port check: nothing starts
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            "TATE_HOME": str(tmp_path / "home"),
            "TATE_METRICS_HOST": "0.0.0.0",
            "TATE_ALLOW_REMOTE_BINDS": "true",
            "TATE_PREFECT_PORT": str(taken.getsockname()[1]),
        }
        done = run_tate(tmp_path, env, "up")
    assert done.returncode == 2, done.stderr
    warning, refusal = done.stderr.strip().splitlines()
    assert warning.startswith("tate: warning: TATE_METRICS_HOST='0.0.0.0' is not loopback")
    assert "TATE_PREFECT_PORT" in refusal
