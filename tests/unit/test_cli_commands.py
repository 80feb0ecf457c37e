"""CLI commands that need no server: breaker resets are journaled, bad options and settings are
named in one line (exit 2), and a gate that says no exits 1."""

from __future__ import annotations

import os
import socket
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from typer.testing import CliRunner

from data_contracts.store import BarStore
from flows import train_flow
from flows.cli import app
from serving.journal import Journal
from tests.factories import make_bars
from tests.servers import free_port


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_reset_request_is_journaled_with_who_and_why(home: Path) -> None:
    result = CliRunner().invoke(
        app, ["reset-breaker", "drift", "--by", "ops@desk", "--note", "regime checked"]
    )
    assert result.exit_code == 0, result.output
    events = Journal(f"sqlite:///{home / 'journal.sqlite'}").read_breaker_events("drift")
    assert events[["event", "by", "reason"]].values.tolist() == [
        ["reset_requested", "ops@desk", "regime checked"]
    ]


def test_unknown_breaker_is_bad_input_and_writes_nothing(home: Path) -> None:
    result = CliRunner().invoke(app, ["reset-breaker", "dirft", "--by", "ops"])
    assert result.exit_code == 2
    assert "unknown breaker 'dirft'" in result.output
    assert not (home / "journal.sqlite").exists()


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("TATE_TRIPPED_POLICY", "panic", "Input should be 'hold', 'reduce' or 'close'"),
        ("TATE_ACCOUNT_MODE", "both", "Input should be 'hedging' or 'netting'"),
        ("TATE_TIMEFRAME", "H2", "unknown timeframe 'H2'"),
        ("TATE_SERVER_TIME", "Mars", "use 'UTC', 'UTC+3', 'UTC-5' or 'NY+7'"),
        ("TATE_DAILY_LOSS_LIMIT", "-5", "greater than 0"),
        ("TATE_CANARY_FRACTION", "1.5", "less than or equal to 1"),
    ],
)
def test_a_bad_setting_is_refused_in_one_line_before_anything_runs(
    home: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, ["serve", "--bars", "1"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"tate: bad setting {variable}={value!r}: ")
    assert says in line
    assert not home.exists(), "nothing was created"


def test_the_journal_url_is_a_secret_shown_only_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.settings import TateSettings

    url = "postgresql://tate:s3cret-pw@db.example:5432/journal"
    monkeypatch.setenv("TATE_JOURNAL_URL", url)
    settings = TateSettings()
    assert settings.journal == url  # what the journal connects with
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.model_dump())
    assert settings.journal_label == "postgresql://tate:***@db.example:5432/journal"


def test_an_unusable_journal_url_is_refused_without_echoing_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TATE_JOURNAL_URL", "postgres-ql://tate:s3cret-pw@db/journal")
    result = CliRunner().invoke(app, ["reset-breaker", "drift", "--by", "ops"])
    assert result.exit_code == 2
    assert result.output.startswith("tate: bad setting TATE_JOURNAL_URL: not a database URL")
    assert "s3cret-pw" not in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["serve", "--terminal", "mt4"], "'--terminal'"),
        (["ingest", "--source", "ftp"], "'--source'"),
        (["promote", "--version", "latest"], "'--version'"),
    ],
)
def test_a_choice_outside_its_list_is_refused_while_parsing(
    home: Path, args: list[str], option: str
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"Error: Invalid value for {option}" in result.output
    assert "Traceback" not in result.output
    assert not home.exists()


def test_a_csv_ingest_without_a_symbol_is_named(home: Path, tmp_path: Path) -> None:
    export = tmp_path / "EURUSD_H1.csv"
    export.write_text("<DATE>\t<TIME>\n")
    result = CliRunner().invoke(app, ["ingest", "--source", "csv", "--path", str(export)])
    assert result.exit_code == 2
    assert result.output.strip() == "tate: ingest --source csv needs --path and --symbol"


def stored_home(home: Path) -> Path:
    BarStore(home / "data").write_bars("EURUSD", "H1", make_bars(n=50))
    return home


GATE_REASONS = [
    "FAIL: OOF AUC 0.4981 must exceed 0.5100",
    "FAIL: OOF net Sharpe -0.31 must exceed 0.00",
    "ok: 5 walk-forward folds, at least 3 needed",
]


def fake_retrain(alias: str | None, passed: bool) -> Any:
    calls: list[dict[str, Any]] = []

    def retrain(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        reasons = GATE_REASONS if not passed else ["ok: all"]
        return {
            "version": "3",
            "run_id": "abc123",
            "alias": alias,
            "gate_passed": passed,
            "gate_reasons": reasons,
        }

    # a flow, as the command gets one: with no API up it calls the function the flow wraps
    as_flow = flow(name="retrain")(retrain)
    as_flow.calls = calls  # type: ignore[attr-defined]
    return as_flow


def test_train_exits_1_when_the_gate_says_no_after_naming_version_run_and_checks(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_home(home)
    retrain = fake_retrain(alias=None, passed=False)
    monkeypatch.setattr(train_flow, "retrain", retrain)
    result = CliRunner().invoke(app, ["train", "--shuffle-labels"])
    assert result.exit_code == 1
    assert retrain.calls[0]["shuffle_labels"] is True
    first, last = result.output.strip().splitlines()
    assert first.startswith("version 3 (run abc123): alias none; gate failed: FAIL: OOF AUC")
    assert last == (
        "tate: the gate said no to version 3 (run abc123), which gets no alias: "
        "FAIL: OOF AUC 0.4981 must exceed 0.5100; FAIL: OOF net Sharpe -0.31 must exceed 0.00"
    )


def test_a_first_version_that_fails_the_gate_gets_no_alias_and_exits_1(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_home(home)
    monkeypatch.setattr(train_flow, "retrain", fake_retrain(alias=None, passed=False))
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 1
    assert "alias none; gate failed" in result.output
    assert "which gets no alias: FAIL: OOF AUC 0.4981 must exceed 0.5100" in result.output
    assert "champion all the same" not in result.output


def test_train_exits_0_when_the_gate_passes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored_home(home)
    monkeypatch.setattr(train_flow, "retrain", fake_retrain(alias="canary", passed=True))
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 0, result.output
    assert "alias canary; gate passed" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--symbol", "XAUEUR"], "no bars stored for symbol 'XAUEUR'"),
        (["--end", "someday"], "--end 'someday' is not an ISO date or time"),
        (["--sweep", '[{"num_leaves": [7]}]'], "override num_leaves=[7] must be a number"),
        (["--sweep", '[{"num_leaves": 7}, {"num_leaves": 7}]'], "are the same configuration"),
    ],
)
def test_bad_training_input_is_named_before_the_flow_starts(
    home: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    stored_home(home)
    retrain = fake_retrain(alias=None, passed=True)
    monkeypatch.setattr(train_flow, "retrain", retrain)
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 2
    assert says in result.output
    assert retrain.calls == [], "the flow (and its Prefect server) never started"


@pytest.mark.parametrize(
    ("sweep", "message"),
    [("{bad", "--sweep: not JSON"), ('{"num_leaves": 7}', "--sweep: expected a JSON list")],
)
def test_a_malformed_sweep_is_bad_input(home: Path, sweep: str, message: str) -> None:
    result = CliRunner().invoke(app, ["train", "--sweep", sweep])
    assert result.exit_code == 2
    assert message in result.output


def test_tate_up_names_a_taken_port_and_its_variable_and_starts_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("TATE_MLFLOW_PORT", str(port))
        monkeypatch.setenv("TATE_PREFECT_PORT", str(free_port()))
        result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"tate: mlflow: port {port} on 127.0.0.1 is already in use by another program; "
        "stop it or choose another port with TATE_MLFLOW_PORT"
    )
    assert not (home / "run").exists(), "no service was started"


def test_a_service_that_dies_at_start_is_named_with_its_log(home: Path) -> None:
    from flows.errors import StackStartError
    from flows.settings import TateSettings
    from flows.stack import Service, running_pid, start_service

    settings = TateSettings()
    settings.run_dir.mkdir(parents=True)
    dying = Service(
        "prefect",
        [sys.executable, "-c", "import sys; print('Address already in use'); sys.exit(1)"],
        f"http://127.0.0.1:{free_port()}/health",
        "never printed",
    )
    with pytest.raises(StackStartError) as info:
        start_service(settings, dying, dict(os.environ))
    log = settings.run_dir / "prefect.log"
    assert str(info.value) == (
        f"prefect did not become healthy; see {log} "
        "(a port in use or a misconfiguration is the usual cause)"
    )
    assert "Address already in use" in log.read_text()
    assert running_pid(settings, "prefect") is None


def test_serve_names_a_taken_metrics_port_before_it_starts(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--metrics-port", str(port)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"tate: metrics port {port} on 127.0.0.1 is already in use by another program; stop it "
        "or choose another port with --metrics-port or TATE_METRICS_PORT"
    )
    assert not (home / "journal.sqlite").exists()


def test_an_unreachable_mt5linux_bridge_is_named_with_its_variables(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = types.ModuleType("mt5linux")

    def refuse(host: str, port: int) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    bridge.MetaTrader5 = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mt5linux", bridge)
    monkeypatch.setenv("TATE_MT5LINUX_PORT", "18999")
    result = CliRunner().invoke(app, ["ingest", "--source", "mt5linux", "--start", "2024-01-01"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "tate: --terminal mt5linux: no bridge answers at 127.0.0.1:18999 (Connection refused); "
        "start it under Wine, or set TATE_MT5LINUX_HOST / TATE_MT5LINUX_PORT"
    )
    assert "Traceback" not in result.output
