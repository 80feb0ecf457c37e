"""Bad input gets one clear error naming what was wrong, and leaves store, registry and journal alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.cli import app

pytestmark = pytest.mark.integration


def snapshot(home: Path) -> dict[str, str]:
    """Content hash of every file under TATE_HOME except Prefect's own database and logs."""
    files = sorted(p for p in home.rglob("*") if p.is_file() and "prefect" not in p.parts)
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input") / "home"
    market = generate_market(n_days=120)
    store = BarStore(root / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    return root


@pytest.fixture
def tate(home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TATE_HOME", str(home))
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_malformed_export_names_file_and_line(tate: CliRunner, home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "EURUSD_H1.csv"
    bad.write_text(
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\r\n"
        "2017.04.19\t13:00:00\t1.07\t1.08\t1.06\t1.075\t100\t0\t12\r\n"
        "2017.04.19\t14:00:00\t1.07\tnot-a-price\t1.06\t1.075\t100\t0\t12\r\n"
    )
    before = snapshot(home)
    code, output = invoke(
        tate, "ingest", "--source", "csv", "--path", str(bad), "--symbol", "EURUSD"
    )
    assert code == 2
    assert f"{bad}:3:" in output  # file:line, the form editors and terminals link to
    assert snapshot(home) == before


def test_unknown_symbol_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "train", "--symbol", "XAUEUR")
    assert code == 2
    assert "XAUEUR" in output
    assert snapshot(home) == before


def test_empty_date_range_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "train", "--start", "2031-01-01")
    assert code == 2
    assert "2031-01-01" in output
    assert snapshot(home) == before


def test_terminal_source_without_its_package_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "ingest", "--source", "mt5", "--start", "2024-01-01")
    assert code == 2
    assert "MetaTrader5" in output and "Windows" in output
    assert snapshot(home) == before


def test_missing_alias_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "promote")
    assert code == 2
    assert "'canary'" in output
    code, output = invoke(tate, "drift", "--role", "canary")
    assert code == 2
    assert "'canary'" in output
    assert {k for k in snapshot(home) if not k.startswith("mlflow")} == {
        k for k in before if not k.startswith("mlflow")
    }


def corrupted_home(tmp_path: Path, rows: list[int]) -> tuple[Path, list[str]]:
    """A store whose GBPUSD bars have a high below the close at `rows`."""
    home = tmp_path / "home"
    market = generate_market(n_days=60)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        if symbol == "GBPUSD":
            bars = bars.copy()
            bars.loc[rows, "high"] = bars.loc[rows, "close"] - 0.01
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    return home, [market.bars["GBPUSD"]["time"].iloc[r].isoformat() for r in rows]


def tate_in(home: Path, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        return invoke(CliRunner(), *args)


def validate_in(home: Path) -> tuple[int, str]:
    return tate_in(home, "validate")


def test_a_bad_bar_is_quarantined_and_named_without_blocking(tmp_path: Path) -> None:
    home, times = corrupted_home(tmp_path, [10])
    raw_before = snapshot(home / "data")
    code, output = validate_in(home)
    assert code == 0, output
    assert "GBPUSD" in output and times[0] in output and "1 quarantined" in output
    quarantine = pd.read_csv(next((home / "reports" / "validation").glob("*/quarantine.csv")))
    assert list(quarantine["symbol"]) == ["GBPUSD"]
    assert snapshot(home / "data") == raw_before, "validation never edits the raw store"


def test_too_many_bad_bars_block_with_exit_1_naming_symbol_and_rows(tmp_path: Path) -> None:
    home, times = corrupted_home(tmp_path, list(range(10, 400, 20)))  # ~2 % of GBPUSD
    raw_before = snapshot(home / "data")
    code, output = validate_in(home)
    assert code == 1
    assert "GBPUSD" in output and times[0] in output
    assert "Data Docs" in output
    assert (home / "reports" / "data_docs" / "index.html").exists()
    assert snapshot(home / "data") == raw_before, "validation never edits the raw store"

    code, output = tate_in(home, "train")
    assert code == 1, output
    assert "blocked by validation" in output
    assert not (home / "mlflow" / "artifacts").exists(), "nothing was trained or logged"
