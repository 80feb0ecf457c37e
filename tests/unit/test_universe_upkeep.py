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
