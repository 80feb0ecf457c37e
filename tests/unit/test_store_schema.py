"""coerce_bars / coerce_universe: the boundary that refuses guesses (naive times, fractional volumes)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from data_contracts.schema import BarSchemaError, coerce_bars, coerce_universe
from tests.factories import make_bars, make_universe


def test_epoch_seconds_become_utc_times() -> None:
    bars = make_bars(n=5)
    as_epoch = bars.assign(time=bars["time"].astype("int64") // 10**9)
    pd.testing.assert_frame_equal(coerce_bars(as_epoch, source="rates"), bars)


def test_other_time_zones_are_converted_to_utc() -> None:
    bars = make_bars(n=5)
    athens = bars.assign(time=bars["time"].dt.tz_convert("Europe/Athens"))
    pd.testing.assert_frame_equal(coerce_bars(athens, source="x"), bars)


def test_mt5_rate_array_dtypes_are_widened() -> None:
    bars = make_bars(n=5)
    narrow = bars.astype({"spread": "int32", "tick_volume": "uint64", "real_volume": "uint64"})
    pd.testing.assert_frame_equal(coerce_bars(narrow, source="x"), bars)


def test_extra_columns_are_dropped_and_order_fixed() -> None:
    bars = make_bars(n=5)
    shuffled = bars[list(reversed(bars.columns))].assign(symbol="EURUSD")
    assert list(coerce_bars(shuffled, source="x").columns) == list(bars.columns)


def test_non_numeric_price_names_source_column_and_row() -> None:
    bars = make_bars(n=5).astype({"close": "object"})
    bars.loc[3, "close"] = "n/a"
    with pytest.raises(BarSchemaError, match=r"feed: column 'close' .* row 3: 'n/a'"):
        coerce_bars(bars, source="feed")


def test_fractional_volume_names_the_row() -> None:
    bars = make_bars(n=5).astype({"tick_volume": "float64"})
    bars.loc[2, "tick_volume"] = 1.5
    with pytest.raises(BarSchemaError, match=r"feed: column 'tick_volume' .* row 2 holds 1.5"):
        coerce_bars(bars, source="feed")


def test_missing_columns_are_all_named() -> None:
    with pytest.raises(BarSchemaError, match=r"missing column\(s\) \['high', 'spread'\]"):
        coerce_bars(make_bars(n=5).drop(columns=["high", "spread"]), source="x")


def test_universe_from_iso_strings_with_empty_delisting() -> None:
    raw = pd.DataFrame(
        {
            "symbol": ["EURUSD", "USDCHF"],
            "listed_from": ["2022-01-03T00:00:00+00:00", "2022-01-03T02:00:00+02:00"],
            "delisted_at": ["", "2022-06-01T00:00:00Z"],
        }
    )
    universe = coerce_universe(raw, source="universe.csv")
    expected = make_universe(
        ("EURUSD", "USDCHF"), delisted={"USDCHF": datetime(2022, 6, 1, tzinfo=UTC)}
    )
    pd.testing.assert_frame_equal(universe, expected)


def test_universe_with_naive_times_or_duplicates_is_refused() -> None:
    naive = make_universe().assign(listed_from=lambda u: u["listed_from"].dt.tz_localize(None))
    with pytest.raises(BarSchemaError, match="tz-naive"):
        coerce_universe(naive, source="u")
    twice = pd.concat([make_universe(["EURUSD"])] * 2, ignore_index=True)
    with pytest.raises(BarSchemaError, match="'EURUSD' listed twice"):
        coerce_universe(twice, source="u")
    no_start = make_universe(["EURUSD"]).assign(listed_from=np.datetime64("NaT"))
    with pytest.raises(BarSchemaError):
        coerce_universe(no_start, source="u")
