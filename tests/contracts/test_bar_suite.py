"""The great-expectations bar suite: clean bars pass, each corruption trips its own check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_contracts.config import ContractConfig
from data_contracts.sessions import FX_NEW_YORK_CLOSE
from data_contracts.suites import add_check_flags
from data_contracts.validation import ValidationReport, validate_bars_set
from tests.factories import load_backtesting_eurusd, make_bars, make_bars_set, make_universe

ROW = 100


def negative_price(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "low"] = -bars.loc[ROW, "low"]


def high_below_close(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "high"] = bars.loc[ROW, ["open", "close"]].max() - 0.0005
    bars.loc[ROW, "close"] = bars.loc[ROW, "high"] + 0.0003


def low_above_open(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "low"] = bars.loc[ROW, ["open", "close"]].min() + 0.0002


def nan_close(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "close"] = np.nan


def duplicate_time(bars: pd.DataFrame) -> pd.DataFrame:
    """The bar before ROW delivered twice (a re-sent bar), so row ROW repeats its time."""
    return pd.concat([bars.iloc[:ROW], bars.iloc[[ROW - 1]], bars.iloc[ROW:]], ignore_index=True)


def out_of_order_time(bars: pd.DataFrame) -> None:
    bars.loc[[ROW, ROW + 1], "time"] = bars.loc[[ROW + 1, ROW], "time"].to_numpy()


# symbol → (corruption, check meant to catch it, row it must name); a corruption edits the
# frame in place or returns the corrupted frame.
CORRUPTIONS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame | None], str, int]] = {
    "NEGPRICE": (negative_price, "positive:low", ROW),
    "HIGHLOW": (high_below_close, "high_ge_open_close", ROW),
    "LOWHIGH": (low_above_open, "low_le_open_close", ROW),
    "NANCLOSE": (nan_close, "not_null:close", ROW),
    "DUPTIME": (duplicate_time, "unique_time", ROW),
    "SWAPTIME": (out_of_order_time, "increasing_time", ROW + 1),
}


@pytest.fixture(scope="module")
def corrupted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationReport, dict]:
    """One validation run over one symbol per corruption (plus a clean one and a missing column)."""
    bars: dict[str, pd.DataFrame] = {"CLEAN": make_bars("CLEAN", n=300)}
    for symbol, (corrupt, _, _) in CORRUPTIONS.items():
        frame = make_bars(symbol, n=300)
        corrupted = corrupt(frame)
        bars[symbol] = frame if corrupted is None else corrupted
    bars["NOVOLUME"] = make_bars("NOVOLUME", n=300).drop(columns=["tick_volume"])
    site = tmp_path_factory.mktemp("reports") / "validation" / "data_docs"
    report = validate_bars_set(bars, make_universe(list(bars)), site_dir=site, run_name="corrupt")
    return report, bars


def failures_of(report: ValidationReport, symbol: str) -> dict[str, list[str]]:
    return {f.check: f.rows for f in report.failures if f.symbol == symbol}


def test_clean_factory_bars_pass_and_write_data_docs(tmp_path: Path) -> None:
    bars, universe = make_bars_set(("EURUSD", "GBPUSD", "USDJPY"), n=1000)
    site = tmp_path / "reports" / "run-1" / "data_docs"

    report = validate_bars_set(bars, universe, site_dir=site, run_name="clean")

    assert report.ok, report.message()
    assert report.failures == []
    assert report.data_docs_index == site.resolve() / "index.html"
    assert report.data_docs_index.is_file()
    assert "EURUSD" in report.data_docs_index.read_text()
    assert list(site.glob("validations/**/*.html"))
    assert "passed" in report.to_markdown()


@pytest.mark.parametrize("symbol", sorted(CORRUPTIONS))
def test_each_corruption_is_caught_by_its_check_naming_symbol_and_row(
    symbol: str, corrupted_run: tuple[ValidationReport, dict]
) -> None:
    report, bars = corrupted_run
    _, check, row = CORRUPTIONS[symbol]
    found = failures_of(report, symbol)

    assert set(found) == {check}, report.message()
    bar_time = bars[symbol].loc[row, "time"].isoformat()
    assert f"{bar_time} (row {row})" in found[check]
    assert symbol in report.message() and bar_time in report.message()


def test_missing_column_is_caught_by_schema_check_alone(
    corrupted_run: tuple[ValidationReport, dict],
) -> None:
    report, _ = corrupted_run
    found = failures_of(report, "NOVOLUME")
    assert found == {"schema": ["missing: tick_volume"]}


def test_clean_symbol_in_corrupted_set_has_no_failures(
    corrupted_run: tuple[ValidationReport, dict],
) -> None:
    report, _ = corrupted_run
    assert not report.ok
    assert failures_of(report, "CLEAN") == {}


def test_report_serialises_to_json_and_markdown_table(
    corrupted_run: tuple[ValidationReport, dict],
) -> None:
    report, _ = corrupted_run
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["ok"] is False
    assert {"symbol": "NANCLOSE", "check": "not_null:close"}.items() <= as_dict["failures"][
        [f["symbol"] for f in as_dict["failures"]].index("NANCLOSE")
    ].items()
    table = report.to_markdown()
    assert "| symbol | check | count | first rows | detail |" in table
    assert "| NANCLOSE | not_null:close | 1 |" in table


def test_naive_times_and_narrow_ints_fail_the_dtype_checks(tmp_path: Path) -> None:
    bars = make_bars(n=50)
    bars["time"] = bars["time"].dt.tz_localize(None)
    bars["spread"] = bars["spread"].astype("int32")

    report = validate_bars_set(
        {"EURUSD": bars}, make_universe(["EURUSD"]), site_dir=tmp_path / "d", run_name="dtypes"
    )

    found = {f.check: f.detail for f in report.failures if f.symbol == "EURUSD"}
    assert found["dtype:time"] == "dtype datetime64, expected Timestamp"
    assert found["dtype:spread"] == "dtype int32, expected int64"


def test_flags_ignore_nan_so_only_not_null_reports_it() -> None:
    bars = make_bars(n=10)
    bars.loc[3, "high"] = np.nan
    flags = add_check_flags(bars)
    assert not flags["flag_high_below_open_close"].any()


def test_validating_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no symbols"):
        validate_bars_set({}, make_universe(), site_dir=tmp_path / "docs", run_name="empty")


def test_real_eurusd_sample_passes_on_its_new_york_close_session(tmp_path: Path) -> None:
    """The real sample, judged on the calendar its times follow, passes without blocking.

    Its times are UTC, but its week follows New York: the first bar of a week is Sunday
    21:00 UTC in summer and 22:00 in winter (17:00 New York), the last Friday 20:00 / 21:00.
    So the session is ``FX_NEW_YORK_CLOSE`` (the week in ``NY+7`` server time), not the UTC
    default — judged on the UTC default, the 28 summer Sunday 21:00 bars would be "outside
    the session" and the summer Friday 21:00 slots "gaps". Christmas Day and New Year's Day
    2017/18 are closed (the default annual holidays), so they are no gaps either.

    What remains is real: two bars stamped Friday 21:00 UTC in summer (2017-10-06 and
    2017-10-20), i.e. 17:00 New York, the minute the FX week closes; every other summer
    Friday ends at 20:00. A bar opening at the close is outside the session, so both are
    quarantined (0.04 % of the rows, far below the 1 % that would block).
    """
    bars = {"EURUSD": load_backtesting_eurusd()}
    universe = make_universe(["EURUSD"], listed_from=pd.Timestamp("1999-01-04", tz="UTC"))
    config = ContractConfig(sessions={"EURUSD": FX_NEW_YORK_CLOSE})

    report = validate_bars_set(
        bars, universe, site_dir=tmp_path / "docs", run_name="real", config=config, timeframe="H1"
    )

    assert not report.blocking, report.message()
    assert [(f.check, f.count) for f in report.failures] == [("outside_session", 2)]
    assert [(e.start.isoformat(), e.check) for e in report.quarantine] == [
        ("2017-10-06T21:00:00+00:00", "outside_session"),
        ("2017-10-20T21:00:00+00:00", "outside_session"),
    ]
    assert report.data_docs_index.is_file()


def test_real_eurusd_sample_on_the_utc_session_shows_the_wrong_calendar(tmp_path: Path) -> None:
    """Judged on the UTC FX week instead, summer Sundays open "early": the check says so."""
    bars = {"EURUSD": load_backtesting_eurusd()}
    universe = make_universe(["EURUSD"], listed_from=pd.Timestamp("1999-01-04", tz="UTC"))

    report = validate_bars_set(bars, universe, site_dir=tmp_path / "docs", run_name="utc")

    outside = next(f for f in report.failures if f.check == "outside_session")
    assert outside.count == 28
    assert outside.rows[0].startswith("2017-04-23T21:00:00+00:00")  # a summer Sunday
