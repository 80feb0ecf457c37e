"""Each bar defect that poisons backtests is caught by exactly the check meant for it.

Every fixture corrupts clean factory bars in one way; one validation run judges them all
(one symbol per defect) next to a clean symbol, which must stay silent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_contracts.config import ContractConfig
from data_contracts.schema import BarSchemaError, coerce_bars
from data_contracts.validation import ValidationReport, validate_bars_set
from tests.factories import make_bars, make_universe

ROW = 100
N = 300


def gap(bars: pd.DataFrame) -> pd.DataFrame:
    """Three mid-week bars lost: the bar after them (now row ROW) follows a gap."""
    return bars.drop(index=[ROW, ROW + 1, ROW + 2]).reset_index(drop=True)


def spike(bars: pd.DataFrame) -> None:
    """One bad tick: the close jumps 3 % and the next bar is back where it was."""
    bars.loc[ROW, "close"] *= 1.03
    bars.loc[ROW, "high"] = max(bars.loc[ROW, "high"], bars.loc[ROW, "close"])


def stale(bars: pd.DataFrame) -> None:
    """A frozen feed: three zero-tick bars repeating the previous close."""
    frozen = bars.loc[ROW - 1, "close"]
    bars.loc[ROW : ROW + 2, ["open", "high", "low", "close"]] = frozen
    bars.loc[ROW : ROW + 2, "tick_volume"] = 0


def zero_tick_volume(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "tick_volume"] = 0


def zero_real_volume(bars: pd.DataFrame) -> None:
    """A venue that reports real volume, with one bar missing it."""
    bars["real_volume"] = bars["tick_volume"] * 1000
    bars.loc[ROW, "real_volume"] = 0


def wide_spread(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "spread"] = 2_000  # 200× the typical spread


def negative_spread(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "spread"] = -2


def outside_session(bars: pd.DataFrame) -> pd.DataFrame:
    """A bar stamped Friday 22:00 UTC, after the FX week closed, inserted in time order."""
    friday = bars.index[(bars["time"].dt.dayofweek == 4) & (bars["time"].dt.hour == 21)][0]
    extra = bars.loc[[friday]].copy()
    extra["time"] += pd.Timedelta(hours=1)
    extra[["open", "high", "low"]] = extra["close"].iloc[0]
    return pd.concat([bars.loc[:friday], extra, bars.loc[friday + 1 :]], ignore_index=True)


def misaligned(bars: pd.DataFrame) -> None:
    bars.loc[ROW, "time"] += pd.Timedelta(minutes=30)


def outside_row(bars: pd.DataFrame) -> int:
    friday = bars.index[(bars["time"].dt.dayofweek == 4) & (bars["time"].dt.hour == 21)][0]
    return int(friday) + 1


# symbol → (corruption, check meant to catch it, severity, row it must name)
DEFECTS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame | None], str, str, int | None]] = {
    "GAP": (gap, "gap", "warn", ROW),
    "SPIKE": (spike, "spike", "error", ROW),
    "STALE": (stale, "stale", "error", ROW),
    "ZEROTICK": (zero_tick_volume, "zero_volume", "error", ROW),
    "ZEROREAL": (zero_real_volume, "zero_volume", "error", ROW),
    "WIDESPREAD": (wide_spread, "spread_outlier", "warn", ROW),
    "NEGSPREAD": (negative_spread, "non_negative:spread", "error", ROW),
    "OUTSIDE": (outside_session, "outside_session", "error", None),
    "MISALIGNED": (misaligned, "misaligned_time", "error", ROW),
}
CONFIG = ContractConfig(real_volume_symbols=frozenset({"ZEROREAL"}))


@pytest.fixture(scope="module")
def defect_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ValidationReport, dict[str, pd.DataFrame]]:
    bars: dict[str, pd.DataFrame] = {"CLEAN": make_bars("CLEAN", n=N)}
    for symbol, (corrupt, *_rest) in DEFECTS.items():
        frame = make_bars(symbol, n=N)
        corrupted = corrupt(frame)
        bars[symbol] = frame if corrupted is None else corrupted
    bars["ZEROREAL"]["real_volume"] = bars["ZEROREAL"]["real_volume"].astype("int64")
    site = tmp_path_factory.mktemp("reports") / "data_docs"
    report = validate_bars_set(
        bars, make_universe(list(bars)), site_dir=site, run_name="defects", config=CONFIG
    )
    return report, bars


@pytest.mark.parametrize("symbol", sorted(DEFECTS))
def test_each_defect_is_caught_by_exactly_its_check(
    symbol: str, defect_run: tuple[ValidationReport, dict[str, pd.DataFrame]]
) -> None:
    report, bars = defect_run
    _, check, severity, row = DEFECTS[symbol]
    row = outside_row(make_bars(symbol, n=N)) if row is None else row
    found = [f for f in report.failures if f.symbol == symbol]

    assert [(f.check, f.severity) for f in found] == [(check, severity)], report.message()
    stamp = bars[symbol].loc[row, "time"].isoformat()
    assert found[0].rows[0] == f"{stamp} (row {row})"


def test_clean_symbol_next_to_defects_raises_nothing(
    defect_run: tuple[ValidationReport, dict[str, pd.DataFrame]],
) -> None:
    report, _ = defect_run
    assert [f for f in report.failures if f.symbol == "CLEAN"] == []


def test_row_errors_are_quarantined_and_warnings_are_not(
    defect_run: tuple[ValidationReport, dict[str, pd.DataFrame]],
) -> None:
    report, bars = defect_run
    quarantined = {e.symbol for e in report.quarantine}
    errors = {s for s, (_, _, severity, _) in DEFECTS.items() if severity == "error"}

    assert quarantined == errors
    assert not report.ok and not report.blocking
    stale_entry = next(e for e in report.quarantine if e.symbol == "STALE")
    assert (stale_entry.start, stale_entry.end, stale_entry.check) == (
        bars["STALE"].loc[ROW, "time"],
        bars["STALE"].loc[ROW + 2, "time"],
        "stale",
    )
    assert report.quarantined_rows["STALE"] == 3


def test_stale_run_shorter_than_n_is_only_zero_volume(tmp_path: Path) -> None:
    bars = make_bars(n=N)
    stale(bars)
    bars.loc[ROW + 2, ["tick_volume"]] = 50  # the run is two bars long now

    report = validate_bars_set(
        {"EURUSD": bars}, make_universe(["EURUSD"]), site_dir=tmp_path / "d", run_name="s"
    )

    assert {(f.check, f.count) for f in report.failures} == {("zero_volume", 2)}


def test_a_jump_that_stays_is_a_move_not_a_spike(tmp_path: Path) -> None:
    bars = make_bars(n=N)
    prices = ["open", "high", "low", "close"]
    bars.loc[ROW:, prices] = bars.loc[ROW:, prices] * 1.03
    bars.loc[ROW, "open"] = bars.loc[ROW - 1, "close"]
    bars.loc[ROW, "low"] = min(bars.loc[ROW, "low"], bars.loc[ROW, "open"])

    report = validate_bars_set(
        {"EURUSD": bars}, make_universe(["EURUSD"]), site_dir=tmp_path / "d", run_name="m"
    )

    assert report.failures == [], report.message()


def test_configured_holiday_is_not_a_gap_but_an_unlisted_closure_is(tmp_path: Path) -> None:
    bars = make_bars(n=N)
    closed = bars["time"].dt.date == date(2022, 1, 12)  # a Wednesday
    bars = bars[~closed].reset_index(drop=True)
    universe = make_universe(["EURUSD"])

    with_holiday = validate_bars_set(
        {"EURUSD": bars},
        universe,
        site_dir=tmp_path / "h",
        run_name="h",
        config=ContractConfig(holidays=frozenset({date(2022, 1, 12)})),
    )
    without = validate_bars_set({"EURUSD": bars}, universe, site_dir=tmp_path / "g", run_name="g")

    assert with_holiday.failures == [], with_holiday.message()
    assert [(f.check, f.count) for f in without.failures] == [("gap", 1)]
    assert without.ok  # a gap only warns


def test_spike_threshold_and_severity_are_configurable(tmp_path: Path) -> None:
    bars = make_bars(n=N)
    spike(bars)
    universe = make_universe(["EURUSD"])

    lenient = validate_bars_set(
        {"EURUSD": bars},
        universe,
        site_dir=tmp_path / "a",
        run_name="a",
        config=ContractConfig(spike_threshold=100.0),
    )
    warned = validate_bars_set(
        {"EURUSD": bars},
        universe,
        site_dir=tmp_path / "b",
        run_name="b",
        config=ContractConfig(severity={"spike": "warn"}),
    )

    assert lenient.failures == []
    assert [(f.check, f.severity) for f in warned.failures] == [("spike", "warn")]
    assert warned.ok and warned.quarantine == []


def test_naive_times_are_refused_at_ingest() -> None:
    bars = make_bars(n=20)
    bars["time"] = bars["time"].dt.tz_localize(None)
    with pytest.raises(BarSchemaError, match="tz-naive"):
        coerce_bars(bars, source="export.csv")


def test_mixed_time_zones_are_refused_at_ingest_naming_the_row() -> None:
    bars = make_bars(n=20)
    times = bars["time"].astype(object)
    times[7] = times[7].tz_convert("Europe/London")
    bars["time"] = times
    with pytest.raises(BarSchemaError, match=r"mixes time zones .*row 7"):
        coerce_bars(bars, source="export.csv")


def test_naive_time_among_aware_ones_is_refused_at_ingest() -> None:
    bars = make_bars(n=20)
    times = bars["time"].astype(object)
    times[3] = times[3].tz_localize(None)
    bars["time"] = times
    with pytest.raises(BarSchemaError, match=r"naive and tz-aware.*row 3"):
        coerce_bars(bars, source="export.csv")


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="severity"):
        ContractConfig(severity={"spike": "fatal"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="max_quarantine_share"):
        ContractConfig(max_quarantine_share=2.0)
    assert np.isclose(ContractConfig().max_quarantine_share, 0.01)
