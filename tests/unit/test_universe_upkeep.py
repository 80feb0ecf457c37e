"""The importer adds to the universe and never moves a row; a person's change is logged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.store import BarStore
from data_contracts.universe import (
    BadListingError,
    admit_symbols,
    empty_universe,
    log_path,
    merge_listings,
    read_universe_or_empty,
    record_changes,
    set_listing,
)

JAN = pd.Timestamp("2022-01-03", tz="UTC")


def test_admitting_a_known_symbol_with_older_bars_leaves_its_row_alone() -> None:
    universe, _ = admit_symbols(empty_universe(), {"EURUSD": JAN})

    after, changes = admit_symbols(
        universe, {"EURUSD": JAN - pd.Timedelta(days=400), "XAUUSD": JAN + pd.Timedelta(days=9)}
    )

    assert [c.symbol for c in changes] == ["XAUUSD"]
    assert after.set_index("symbol")["listed_from"].to_dict() == {
        "EURUSD": JAN,
        "XAUUSD": JAN + pd.Timedelta(days=9),
    }
    assert after["delisted_at"].isna().all()


def test_a_delisting_before_the_listing_is_refused() -> None:
    with pytest.raises(BadListingError, match="not after listed_from"):
        set_listing(empty_universe(), "EURUSD", JAN, JAN - pd.Timedelta(hours=1))


def test_setting_a_row_keeps_its_place_and_remembers_what_it_was(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    universe, added = admit_symbols(empty_universe(), {"EURUSD": JAN, "GBPUSD": JAN})
    record_changes(store, universe, added, by="ingest", at=datetime(2026, 1, 1, tzinfo=UTC))
    later = JAN + pd.Timedelta(days=30)

    universe, change = set_listing(read_universe_or_empty(store), "EURUSD", JAN, later)
    record_changes(store, universe, [change], by="ana", at=datetime(2026, 1, 2, tzinfo=UTC))

    assert store.read_universe()["symbol"].tolist() == ["EURUSD", "GBPUSD"]
    assert store.read_universe()["delisted_at"].iloc[0] == later
    log = pd.read_csv(log_path(store), dtype=str, keep_default_na=False)
    assert log[["by", "action", "symbol"]].values.tolist() == [
        ["ingest", "added", "EURUSD"],
        ["ingest", "added", "GBPUSD"],
        ["ana", "set", "EURUSD"],
    ]
    assert log["was_listed_from"].iloc[2] == JAN.isoformat()
    assert log["delisted_at"].iloc[2] == later.isoformat()


def test_no_change_writes_neither_universe_nor_log(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    record_changes(store, empty_universe(), [], by="x", at=datetime(2026, 1, 1, tzinfo=UTC))
    assert not store.universe_path.exists() and not log_path(store).exists()


def test_merging_a_sources_listings_adds_only_new_rows_with_their_delisting() -> None:
    mine, _ = admit_symbols(empty_universe(), {"EURUSD": JAN - pd.Timedelta(days=30)})
    listings = pd.DataFrame(
        {
            "symbol": ["EURUSD", "USDCHF"],
            "listed_from": [JAN.isoformat(), JAN.isoformat()],
            "delisted_at": ["", (JAN + pd.Timedelta(days=60)).isoformat()],
        }
    )

    after, changes = merge_listings(mine, listings)

    assert [(c.symbol, c.delisted_at) for c in changes] == [("USDCHF", JAN + pd.Timedelta(days=60))]
    rows = after.set_index("symbol")
    assert rows.loc["EURUSD", "listed_from"] == JAN - pd.Timedelta(days=30)  # kept as it was
    assert rows.loc["USDCHF", "delisted_at"] == JAN + pd.Timedelta(days=60)


def test_the_synthetic_ingest_adds_to_the_universe_instead_of_rewriting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.data_flows import write_synthetic_market
    from flows.settings import TateSettings

    monkeypatch.setenv("TATE_HOME", str(tmp_path))
    monkeypatch.setenv("TATE_SYMBOLS", "EURUSD,GBPUSD")
    store = BarStore(tmp_path / "data")
    universe, added = admit_symbols(empty_universe(), {"XAUUSD": JAN, "EURUSD": JAN})
    record_changes(store, universe, added, by="ingest csv", at=datetime(2026, 1, 1, tzinfo=UTC))

    write_synthetic_market.fn(TateSettings())

    assert store.read_universe()["symbol"].tolist() == ["EURUSD", "XAUUSD", "GBPUSD"]
    assert store.read_universe().set_index("symbol").loc["EURUSD", "listed_from"] == JAN
    log = pd.read_csv(log_path(store), dtype=str, keep_default_na=False)
    assert log[["by", "symbol"]].values.tolist()[-1] == ["ingest sim", "GBPUSD"]
