"""Bad input gets one clear error naming what was wrong, and leaves store, registry and journal alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def test_failed_contract_exits_1_naming_symbol_and_rows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    market = generate_market(n_days=60)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        if symbol == "GBPUSD":
            bars = bars.copy()
            bars.loc[10, "high"] = bars.loc[10, "close"] - 0.01  # a high below the close
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    broken_time = market.bars["GBPUSD"]["time"].iloc[10].isoformat()
    raw_before = snapshot(home / "data")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        code, output = invoke(CliRunner(), "validate")

    assert code == 1
    assert "GBPUSD" in output and "high" in output and broken_time in output
    assert "Data Docs" in output
    assert (home / "reports" / "data_docs" / "index.html").exists()
    assert snapshot(home / "data") == raw_before, "validation never edits the raw store"
