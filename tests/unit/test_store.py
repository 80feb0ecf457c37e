"""BarStore: append-only raw parquet, idempotent re-import, atomic writes, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_contracts import store as store_module
from data_contracts.schema import BarSchemaError
from data_contracts.store import (
    BarStore,
    ConflictingBarsError,
    EmptyRangeError,
    UnknownSymbolError,
)
from data_contracts.symbols import BadSymbolError, check_symbol
from tests.factories import make_bars, make_universe


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: the store 'as it was'."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def bar_store(tmp_path: Path) -> BarStore:
    return BarStore(tmp_path / "data")


def test_written_bars_read_back_identical(bar_store: BarStore) -> None:
    bars = make_bars(n=300)
    path = bar_store.write_bars("EURUSD", "H1", bars)
    assert path is not None
    assert path.parent == bar_store.root / "bars" / "timeframe=H1" / "symbol=EURUSD"
    pd.testing.assert_frame_equal(bar_store.read_bars("EURUSD", "H1"), bars)


def test_reimporting_same_bars_adds_nothing(bar_store: BarStore) -> None:
    bars = make_bars(n=300)
    bar_store.write_bars("EURUSD", "H1", bars)
    before = snapshot(bar_store.root)
    assert bar_store.write_bars("EURUSD", "H1", bars) is None
    assert snapshot(bar_store.root) == before


def test_overlapping_import_adds_only_newer_rows_in_a_new_file(bar_store: BarStore) -> None:
    bars = make_bars(n=300)
    first = bar_store.write_bars("EURUSD", "H1", bars.iloc[:200])
    assert first is not None
    first_bytes = first.read_bytes()
    second = bar_store.write_bars("EURUSD", "H1", bars.iloc[150:])
    assert second is not None and second != first
    assert first.read_bytes() == first_bytes  # never rewritten
    assert len(pd.read_parquet(second)) == 100
    pd.testing.assert_frame_equal(bar_store.read_bars("EURUSD", "H1"), bars)


def test_unsorted_input_with_duplicates_is_stored_sorted_and_unique(bar_store: BarStore) -> None:
    bars = make_bars(n=50)
    shuffled = pd.concat([bars.iloc[::-1], bars.iloc[:5]], ignore_index=True)
    bar_store.write_bars("EURUSD", "H1", shuffled)
    pd.testing.assert_frame_equal(bar_store.read_bars("EURUSD", "H1"), bars)


def test_failed_write_leaves_store_as_it_was(
    bar_store: BarStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = make_bars(n=300)
    bar_store.write_bars("EURUSD", "H1", bars.iloc[:200])
    before = snapshot(bar_store.root)

    def write_half_then_fail(frame: pd.DataFrame, path: Path) -> None:
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "write_parquet", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        bar_store.write_bars("EURUSD", "H1", bars)
    assert snapshot(bar_store.root) == before
    pd.testing.assert_frame_equal(bar_store.read_bars("EURUSD", "H1"), bars.iloc[:200])


def test_bars_without_rate_layout_are_refused_and_nothing_written(bar_store: BarStore) -> None:
    with pytest.raises(BarSchemaError, match=r"EURUSD H1.*missing column.*spread"):
        bar_store.write_bars("EURUSD", "H1", make_bars(n=10).drop(columns=["spread"]))
    assert not bar_store.root.exists() or snapshot(bar_store.root) == {}


def test_naive_times_are_refused(bar_store: BarStore) -> None:
    bars = make_bars(n=10)
    bars["time"] = bars["time"].dt.tz_localize(None)
    with pytest.raises(BarSchemaError, match="tz-naive"):
        bar_store.write_bars("EURUSD", "H1", bars)


def test_unknown_symbol_error_names_symbol_timeframe_and_known_symbols(
    bar_store: BarStore,
) -> None:
    bar_store.write_bars("EURUSD", "H1", make_bars(n=10))
    with pytest.raises(UnknownSymbolError) as info:
        bar_store.read_bars("GBPUSD", "H1")
    text = str(info.value)
    assert "GBPUSD" in text and "H1" in text and "EURUSD" in text


def test_unknown_symbol_is_a_key_error(bar_store: BarStore) -> None:
    with pytest.raises(KeyError):
        bar_store.read_bars("EURUSD", "H1")


def test_range_is_start_inclusive_end_exclusive(bar_store: BarStore) -> None:
    bars = make_bars(n=48)
    bar_store.write_bars("EURUSD", "H1", bars)
    start, end = bars["time"].iloc[10], bars["time"].iloc[20]
    got = bar_store.read_bars("EURUSD", "H1", start=start, end=end)
    pd.testing.assert_frame_equal(got, bars.iloc[10:20].reset_index(drop=True))


def test_range_selecting_nothing_names_symbol_and_range(bar_store: BarStore) -> None:
    bar_store.write_bars("EURUSD", "H1", make_bars(n=48))
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with pytest.raises(EmptyRangeError, match=r"EURUSD H1: no bars in \[2023-01-01"):
        bar_store.read_bars("EURUSD", "H1", start=start)


def test_start_not_before_end_is_an_empty_range(bar_store: BarStore) -> None:
    bar_store.write_bars("EURUSD", "H1", make_bars(n=48))
    moment = datetime(2022, 1, 3, 5, tzinfo=UTC)
    with pytest.raises(EmptyRangeError, match="EURUSD H1: empty range"):
        bar_store.read_bars("EURUSD", "H1", start=moment, end=moment)


def test_naive_range_bound_is_refused(bar_store: BarStore) -> None:
    bar_store.write_bars("EURUSD", "H1", make_bars(n=48))
    naive = datetime(2022, 1, 3)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        bar_store.read_bars("EURUSD", "H1", start=naive)


def test_symbols_lists_only_symbols_with_bars_for_that_timeframe(bar_store: BarStore) -> None:
    bar_store.write_bars("GBPUSD", "H1", make_bars("GBPUSD", n=10))
    bar_store.write_bars("EURUSD", "H1", make_bars(n=10))
    bar_store.write_bars("EURUSD", "D1", make_bars(n=10, timeframe="D1"))
    assert bar_store.symbols("H1") == ["EURUSD", "GBPUSD"]
    assert bar_store.symbols("D1") == ["EURUSD"]
    assert bar_store.symbols("M5") == []
    assert set(bar_store.read_bars_set("H1")) == {"EURUSD", "GBPUSD"}


def test_unknown_timeframe_is_refused(bar_store: BarStore) -> None:
    with pytest.raises(BarSchemaError, match="unknown timeframe 'H2'"):
        bar_store.symbols("H2")


def test_digest_is_stable_and_changes_only_when_bars_are_added(bar_store: BarStore) -> None:
    bars = make_bars(n=100)
    bar_store.write_bars("EURUSD", "H1", bars.iloc[:60])
    bar_store.write_bars("GBPUSD", "H1", make_bars("GBPUSD", n=60))
    first = bar_store.digest("H1", ["EURUSD", "GBPUSD"])
    assert bar_store.digest("H1", ["GBPUSD", "EURUSD"]) == first
    bar_store.write_bars("EURUSD", "H1", bars.iloc[:60])
    assert bar_store.digest("H1", ["EURUSD", "GBPUSD"]) == first
    bar_store.write_bars("EURUSD", "H1", bars)
    assert bar_store.digest("H1", ["EURUSD", "GBPUSD"]) != first


def test_digest_of_unknown_symbol_names_it(bar_store: BarStore) -> None:
    with pytest.raises(UnknownSymbolError, match="USDJPY"):
        bar_store.digest("H1", ["USDJPY"])


def test_universe_round_trips_with_empty_delisted_at_for_listed(bar_store: BarStore) -> None:
    universe = make_universe(
        ("EURUSD", "USDCHF"), delisted={"USDCHF": datetime(2022, 6, 1, tzinfo=UTC)}
    )
    path = bar_store.write_universe(universe)
    assert path.read_text().splitlines() == [
        "symbol,listed_from,delisted_at",
        "EURUSD,2022-01-03T00:00:00+00:00,",
        "USDCHF,2022-01-03T00:00:00+00:00,2022-06-01T00:00:00+00:00",
    ]
    pd.testing.assert_frame_equal(bar_store.read_universe(), universe)


def test_reading_missing_universe_names_the_path(bar_store: BarStore) -> None:
    with pytest.raises(FileNotFoundError, match=r"universe\.csv"):
        bar_store.read_universe()


@pytest.mark.parametrize(
    "symbol", ["EUR/USD", "../x", "", ".", "..", "../../../../tmp/evil", "A" * 33, "EURUSD\n"]
)
def test_a_symbol_that_is_not_a_name_is_refused_before_any_path_is_built(
    tmp_path: Path, symbol: str
) -> None:
    store = BarStore(tmp_path / "home" / "data")
    with pytest.raises(BadSymbolError, match="refused"):
        store.write_bars(symbol, "H1", make_bars(n=5))
    for read in (
        lambda: store.read_bars(symbol, "H1"),
        lambda: store.files(symbol, "H1"),
        lambda: store.digest("H1", [symbol]),
        lambda: store.require_symbols("H1", [symbol]),
    ):
        with pytest.raises(BadSymbolError):
            read()
    assert [p for p in tmp_path.rglob("*")] == [], "nothing written anywhere"


@pytest.mark.parametrize("symbol", ["EURUSD", "US500.cash", "BRN-1_2", "A" * 32, "x"])
def test_broker_symbol_names_are_accepted(bar_store: BarStore, symbol: str) -> None:
    assert check_symbol(symbol) == symbol
    bar_store.write_bars(symbol, "H1", make_bars(n=5))
    assert bar_store.symbols("H1") == [symbol]


def test_a_folder_an_older_tate_left_under_a_refused_name_is_not_listed(
    bar_store: BarStore,
) -> None:
    bar_store.write_bars("EURUSD", "H1", make_bars(n=5))
    stray = bar_store.root / "bars" / "timeframe=H1" / "symbol="
    stray.mkdir()
    (stray / "x.parquet").write_bytes(b"")
    assert bar_store.symbols("H1") == ["EURUSD"]


def test_a_bar_stored_with_other_values_is_refused_and_nothing_written(
    bar_store: BarStore,
) -> None:
    bars = make_bars(n=20)
    bar_store.write_bars("EURUSD", "H1", bars.iloc[:10])
    before = snapshot(bar_store.root)
    changed = bars.copy()
    changed.loc[5, "close"] += 0.001
    with pytest.raises(ConflictingBarsError, match="stored with other values") as info:
        bar_store.add_bars("EURUSD", "H1", changed)
    assert info.value.rows == [5]
    assert snapshot(bar_store.root) == before


def test_one_time_twice_with_different_values_is_refused_naming_both_rows(
    bar_store: BarStore,
) -> None:
    bars = make_bars(n=10)
    twice = pd.concat([bars, bars.iloc[[3]].assign(spread=99)], ignore_index=True)
    with pytest.raises(ConflictingBarsError, match="twice") as info:
        bar_store.add_bars("EURUSD", "H1", twice)
    assert info.value.rows == [3, 10]
    assert not bar_store.root.exists()


def test_counts_say_added_already_present_and_duplicates(bar_store: BarStore) -> None:
    bars = make_bars(n=30)
    bar_store.write_bars("EURUSD", "H1", bars.iloc[10:20])
    again = pd.concat([bars, bars.iloc[[0, 25]]], ignore_index=True).iloc[::-1]
    addition = bar_store.add_bars("EURUSD", "H1", again)
    assert (addition.added, addition.already_present, addition.duplicates) == (20, 10, 2)
    pd.testing.assert_frame_equal(bar_store.read_bars("EURUSD", "H1"), bars)


def test_bars_filling_a_gap_before_the_newest_are_added_and_the_newest_stays_known(
    bar_store: BarStore,
) -> None:
    bars = make_bars(n=30)
    bar_store.write_bars("EURUSD", "H1", bars.iloc[:5])
    bar_store.write_bars("EURUSD", "H1", bars.iloc[25:])
    addition = bar_store.add_bars("EURUSD", "H1", bars.iloc[5:25])
    assert addition.added == 20
    assert bar_store.last_time("EURUSD", "H1") == bars["time"].iloc[-1]
    pd.testing.assert_frame_equal(bar_store.read_bars("EURUSD", "H1"), bars)
