"""Survivorship against a point-in-time universe: delisted symbols must stay in the set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.survivorship import (
    bar_spans,
    check_survivorship,
    infer_bar,
    missing_share_by_month,
)
from data_contracts.validation import validate_bars_set
from tests.factories import make_bars, make_bars_set, make_universe

SYMBOLS = ("EURUSD", "GBPUSD", "USDCHF")
DELISTED_AT = datetime(2022, 2, 1, tzinfo=UTC)


@pytest.fixture
def market() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Three symbols over ~2 months; USDCHF delisted on 1 Feb, its bars stop there."""
    return make_bars_set(SYMBOLS, n=1000, delisted={"USDCHF": DELISTED_AT})


def checks(failures: list) -> set[tuple[str, str]]:
    return {(f.symbol, f.check) for f in failures}


def test_delisted_symbol_whose_data_stops_at_delisting_passes(market: tuple) -> None:
    bars, universe = market
    assert bars["USDCHF"]["time"].max() < pd.Timestamp(DELISTED_AT)
    assert check_survivorship(bars, universe) == []


def test_dropping_the_delisted_symbol_is_survivorship_bias(market: tuple) -> None:
    bars, universe = market
    survivors = {s: b for s, b in bars.items() if s != "USDCHF"}

    failures = check_survivorship(survivors, universe)

    assert checks(failures) == {("USDCHF", "missing_symbol"), ("*", "survivorship_bias")}
    bias = next(f for f in failures if f.check == "survivorship_bias")
    assert bias.rows == ["USDCHF"] and bias.count == 1


def test_validation_report_passes_with_delisted_and_fails_without(
    market: tuple, tmp_path: Path
) -> None:
    bars, universe = market
    site = tmp_path / "reports" / "docs"

    with_delisted = validate_bars_set(bars, universe, site_dir=site, run_name="pit")
    survivors_only = validate_bars_set(
        {s: b for s, b in bars.items() if s != "USDCHF"}, universe, site_dir=site, run_name="b"
    )

    assert with_delisted.ok, with_delisted.message()
    assert with_delisted.failures == [] and not with_delisted.blocking
    assert not survivors_only.ok and survivors_only.blocking
    assert "survivorship_bias" in survivors_only.message()
    assert "USDCHF" in survivors_only.message()


def test_bars_after_delisting_beyond_one_bar_are_outside_listing(market: tuple) -> None:
    bars, universe = market
    bars["USDCHF"] = make_bars("USDCHF", n=1000)  # trades on after its delisting

    failures = check_survivorship(bars, universe)

    outside = next(f for f in failures if f.check == "outside_listing")
    assert outside.symbol == "USDCHF"
    assert outside.count == int(
        (bars["USDCHF"]["time"] > pd.Timestamp(DELISTED_AT) + pd.Timedelta(hours=1)).sum()
    )
    assert outside.rows[0].startswith("2022-02-01T02:00:00+00:00")


def test_one_bar_past_delisting_is_tolerated(market: tuple) -> None:
    bars, universe = market
    full = make_bars("USDCHF", n=1000)
    bars["USDCHF"] = full[full["time"] <= pd.Timestamp(DELISTED_AT) + pd.Timedelta(hours=1)]
    assert check_survivorship(bars, universe) == []


def test_bars_before_listing_are_outside_listing() -> None:
    bars = {"EURUSD": make_bars(n=300)}
    universe = make_universe(["EURUSD"], listed_from=datetime(2022, 1, 5, tzinfo=UTC))

    failures = check_survivorship(bars, universe)

    assert checks(failures) == {("EURUSD", "outside_listing")}
    assert failures[0].count == 47  # 2022-01-03 00:00 … 2022-01-04 22:00
    assert failures[0].rows[0] == "2022-01-03T00:00:00+00:00 (row 0)"


def test_history_stopping_early_without_delisting_is_flagged(market: tuple) -> None:
    bars, universe = market
    bars["GBPUSD"] = bars["GBPUSD"].iloc[:400]

    failures = check_survivorship(bars, universe)

    assert checks(failures) == {("GBPUSD", "early_stop")}
    assert "no delisting recorded" in failures[0].detail


def test_listed_symbol_without_any_bars_is_missing(market: tuple) -> None:
    bars, universe = market
    del bars["GBPUSD"]
    assert checks(check_survivorship(bars, universe)) == {("GBPUSD", "missing_symbol")}


def test_symbol_listed_only_after_the_dataset_is_not_expected() -> None:
    bars = {"EURUSD": make_bars(n=300)}
    universe = pd.concat(
        [
            make_universe(["EURUSD"]),
            make_universe(["NEWCCY"], listed_from=datetime(2030, 1, 1, tzinfo=UTC)),
        ],
        ignore_index=True,
    )
    assert check_survivorship(bars, universe) == []


def test_symbol_unknown_to_the_universe_is_flagged(market: tuple) -> None:
    bars, universe = market
    bars["XAUUSD"] = make_bars("XAUUSD", n=1000)
    assert checks(check_survivorship(bars, universe)) == {("XAUUSD", "not_in_universe")}


def test_spans_skip_frames_without_usable_times() -> None:
    bars = {"EURUSD": make_bars(n=10), "BROKEN": make_bars(n=10).drop(columns=["time"])}
    spans = bar_spans(bars)
    assert spans["symbol"].tolist() == ["EURUSD"]
    assert spans.loc[0, "bars"] == 10


def test_bar_length_is_inferred_across_weekend_gaps() -> None:
    assert infer_bar({"EURUSD": make_bars(n=500)}) == pd.Timedelta(hours=1)
    assert infer_bar({"EURUSD": make_bars(n=50, timeframe="D1")}) == pd.Timedelta(days=1)


def test_missing_share_by_month_shows_the_dropped_symbol_until_its_delisting(
    market: tuple,
) -> None:
    bars, universe = market
    survivors = {s: b for s, b in bars.items() if s != "USDCHF"}

    full = missing_share_by_month(bars, universe)
    biased = missing_share_by_month(survivors, universe)

    assert full["month"].tolist() == ["2022-01", "2022-02", "2022-03"]
    assert full["share"].tolist() == [0.0, 0.0, 0.0]
    # USDCHF is listed in January and (until 1 Feb 00:00) not in February
    assert biased[["month", "listed", "missing", "symbols"]].values.tolist() == [
        ["2022-01", 3, 1, "USDCHF"],
        ["2022-02", 2, 0, ""],
        ["2022-03", 2, 0, ""],
    ]
    assert biased["share"].iloc[0] == pytest.approx(1 / 3)


def test_survivorship_failures_block_training(market: tuple, tmp_path: Path) -> None:
    bars, universe = market
    survivors = {s: b for s, b in bars.items() if s != "USDCHF"}

    report = validate_bars_set(survivors, universe, site_dir=tmp_path / "d", run_name="b")

    assert report.blocking
    assert report.to_dict()["missing_by_month"][0]["symbols"] == "USDCHF"


@pytest.mark.parametrize(
    ("edit", "check", "row"),
    [
        (
            lambda u: u.assign(symbol=["EURUSD", "EURUSD", "USDCHF"]),
            "universe:unique_symbol",
            "EURUSD (row 0)",
        ),
        (
            lambda u: u.assign(symbol=["EURUSD", None, "USDCHF"]),
            "universe:symbol_not_null",
            "None (row 1)",
        ),
        (
            lambda u: u.assign(listed_from=[u["listed_from"][0], pd.NaT, u["listed_from"][0]]),
            "universe:listed_from_not_null",
            "GBPUSD (row 1)",
        ),
        (
            lambda u: u.assign(delisted_at=[pd.NaT, pd.NaT, u["listed_from"][0]]),
            "universe:delisted_after_listed",
            "USDCHF (row 2)",
        ),
    ],
)
def test_broken_universe_fails_its_suite_and_blocks(
    market: tuple,
    tmp_path: Path,
    edit: Callable[[pd.DataFrame], pd.DataFrame],
    check: str,
    row: str,
) -> None:
    bars, universe = market

    report = validate_bars_set(bars, edit(universe), site_dir=tmp_path / "d", run_name="u")

    assert report.blocking
    assert [(f.symbol, f.check, f.rows[0]) for f in report.failures] == [("*", check, row)]
