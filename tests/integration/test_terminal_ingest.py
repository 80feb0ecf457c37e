"""Ingestion from a terminal through the MT5 adapter, on SimTerminal: incremental and idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.data_flows import ingest_from_terminal
from flows.settings import TateSettings
from serving.mt5.constants import TIMEFRAMES
from serving.sim.terminal import SimTerminal

SYMBOLS = ["EURUSD", "USDJPY"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TateSettings:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    return TateSettings()


def test_ingest_fetches_only_closed_bars_the_store_lacks(settings: TateSettings) -> None:
    source = generate_market(n_days=40).bars
    terminal = SimTerminal({s: source[s] for s in SYMBOLS}, start=300)
    assert terminal.initialize()
    start = datetime(2022, 1, 1, tzinfo=UTC)
    store = BarStore(settings.data_dir)

    def ingest() -> dict[str, int]:
        return ingest_from_terminal(
            settings, terminal, SYMBOLS, start=start, now=terminal.current_time, server_time="UTC"
        )

    first = ingest()
    forming = pd.Timestamp(
        int(terminal.copy_rates_from_pos("EURUSD", TIMEFRAMES["H1"], 0, 1)["time"][0]),
        unit="s",
        tz="UTC",
    )
    stored = store.read_bars("EURUSD", "H1")
    assert first == {"EURUSD": 300, "USDJPY": 300}
    assert stored["time"].iloc[-1] < forming, "the forming bar never reaches the store"
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True), source["EURUSD"].iloc[:300].reset_index(drop=True)
    )

    assert ingest() == {"EURUSD": 0, "USDJPY": 0}, "a repeat run adds nothing"
    files_before = store.files("EURUSD", "H1")

    for _ in range(12):
        terminal.advance()
    assert ingest() == {"EURUSD": 12, "USDJPY": 12}
    files_after = store.files("EURUSD", "H1")
    assert (
        files_after[: len(files_before)] == files_before
        and len(files_after) == len(files_before) + 1
    )
    assert len(store.read_bars("EURUSD", "H1")) == 312


def test_a_terminal_ingest_keeps_symbol_info_the_universe_row_and_the_clock(
    settings: TateSettings,
) -> None:
    from data_contracts.symbol_records import load_spec, read_server_times, spec_path
    from data_contracts.symbols import SYMBOL_SPECS

    source = generate_market(n_days=20).bars
    terminal = SimTerminal({s: source[s] for s in SYMBOLS}, start=100)
    assert terminal.initialize()
    now = terminal.current_time

    ingest_from_terminal(
        settings,
        terminal,
        SYMBOLS,
        start=datetime(2022, 1, 1, tzinfo=UTC),
        now=now,
        server_time="UTC",
    )

    universe = BarStore(settings.data_dir).read_universe().set_index("symbol")
    assert sorted(universe.index) == SYMBOLS
    assert universe.loc["EURUSD", "listed_from"] == source["EURUSD"]["time"].iloc[0]
    assert read_server_times(settings.data_dir) == {s: "UTC" for s in SYMBOLS}
    assert spec_path(settings.data_dir, "USDJPY").is_file()
    stored = load_spec(settings.data_dir, "USDJPY")
    assert (stored.digits, stored.trade_contract_size, stored.currency_profit) == (
        SYMBOL_SPECS["USDJPY"].digits,
        SYMBOL_SPECS["USDJPY"].trade_contract_size,
        "JPY",
    )
