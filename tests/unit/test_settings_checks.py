"""What the settings accept and what the CLI prints: symbol lists as people write them, hosts off
loopback only when asked for, a home that can be written, and no secret in any printed line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from flows.cli_settings import describe_setting_error
from flows.data_flows import write_synthetic_market
from flows.errors import BAD_INPUT, BUG, BadSettingError, report
from flows.setting_checks import is_loopback
from flows.settings import TateSettings


@pytest.mark.parametrize(
    ("value", "symbols"),
    [
        ("EURUSD,GBPUSD", ("EURUSD", "GBPUSD")),
        (" EURUSD , USDJPY ", ("EURUSD", "USDJPY")),
        ('["EURUSD", "GBPUSD"]', ("EURUSD", "GBPUSD")),
        ("US500.cash", ("US500.cash",)),
    ],
)
def test_a_symbol_list_is_read_as_commas_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, symbols: tuple[str, ...]
) -> None:
    monkeypatch.setenv("TATE_SYMBOLS", value)
    assert TateSettings().symbols == symbols


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("EURUSD,,GBPUSD", "symbol '' refused"),
        ("../../etc", "symbol '../../etc' refused"),
        ("EURUSD,EURUSD", "listed twice"),
        ('["EURUSD"', "not a JSON list"),
        ('["EURUSD", 3]', "TATE_SYMBOLS='[\"EURUSD\", 3]' (item 1)"),
    ],
)
def test_a_bad_symbol_list_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("TATE_SYMBOLS", value)
    with pytest.raises(ValidationError) as refused:
        TateSettings()
    line = describe_setting_error(refused.value)
    assert line.startswith("bad setting TATE_SYMBOLS=") and "\n" not in line
    assert says in line


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("", False), ("10.0.0.5", False), ("bridge.lan", False)],
)  # fmt: skip
def test_only_this_machine_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_remote_host_needs_the_opt_in_and_is_then_listed_for_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TATE_MT5LINUX_HOST", "10.0.0.5")
    with pytest.raises(ValidationError) as refused:
        TateSettings()
    assert describe_setting_error(refused.value).startswith(
        "bad setting TATE_MT5LINUX_HOST='10.0.0.5': not a loopback address"
    )
    monkeypatch.setenv("TATE_ALLOW_REMOTE_BINDS", "true")
    [warning] = TateSettings().remote_hosts()
    assert warning.startswith("TATE_MT5LINUX_HOST='10.0.0.5' is not loopback")
    monkeypatch.delenv("TATE_MT5LINUX_HOST")
    assert TateSettings().remote_hosts() == []


def test_an_existing_home_that_cannot_be_written_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows import cli_settings

    # /proc/1 is a folder nobody can create anything in, root included (tests run as root)
    monkeypatch.setenv("TATE_HOME", "/proc/1")
    with pytest.raises(BadSettingError, match=r"^bad setting TATE_HOME='/proc/1': cannot write"):
        cli_settings.command_settings()


def test_every_printed_line_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter2-pw")
    operator = BadSettingError("registry http://ops:s3cret-pw@mlflow:5000 said no (hunter2-pw)")
    assert report(operator) == BAD_INPUT
    try:
        raise RuntimeError("token=abc123 in http://ops:s3cret-pw@mlflow:5000")
    except RuntimeError as error:
        assert report(error) == BUG
    printed = capsys.readouterr().err
    assert "Traceback" in printed and "http://ops:***@mlflow:5000" in printed
    for secret in ("s3cret-pw", "hunter2-pw", "abc123"):
        assert secret not in printed


def test_a_synthetic_market_without_usdchf_delists_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TATE_HOME", str(tmp_path))
    monkeypatch.setenv("TATE_SYMBOLS", "EURUSD,GBPUSD")
    written = write_synthetic_market.fn(TateSettings())
    assert set(written) == {"EURUSD", "GBPUSD"}
