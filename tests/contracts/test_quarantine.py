"""Severity decides what a failure does: quarantine rows, block training, or only warn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_contracts.config import ContractConfig
from data_contracts.quarantine import (
    QuarantineEntry,
    apply_quarantine,
    quarantine_entries,
    quarantine_from_frame,
    quarantine_to_frame,
)
from data_contracts.synthetic import generate_market
from data_contracts.validation import ValidationReport, validate_bars_set
from tests.factories import make_bars, make_universe

UTC_TS = pd.Timestamp


def validate(bars: dict[str, pd.DataFrame], tmp_path: Path, **kwargs: object) -> ValidationReport:
    return validate_bars_set(
        bars, make_universe(list(bars)), site_dir=tmp_path / "docs", run_name="q", **kwargs
    )


def spiked(n: int = 300, rows: tuple[int, ...] = (100,)) -> pd.DataFrame:
    bars = make_bars(n=n)
    for row in rows:
        bars.loc[row, "close"] *= 1.03
        bars.loc[row, "high"] = max(bars.loc[row, "high"], bars.loc[row, "close"])
    return bars


def test_row_error_is_quarantined_and_training_may_proceed(tmp_path: Path) -> None:
    bars = spiked()
    report = validate({"EURUSD": bars}, tmp_path)

    assert not report.ok and not report.blocking
    assert report.quarantine == [
        QuarantineEntry("EURUSD", bars.loc[100, "time"], bars.loc[100, "time"], "spike")
    ]
    assert report.quarantined_rows == {"EURUSD": 1}
    assert "passed with quarantine" in report.to_markdown()


def test_store_minus_quarantine_validates_clean(tmp_path: Path) -> None:
    bars = spiked()
    report = validate({"EURUSD": bars}, tmp_path / "a")

    kept = apply_quarantine(bars, "EURUSD", report.quarantine)
    again = validate(
        {"EURUSD": kept}, tmp_path / "b", config=ContractConfig(severity={"gap": "error"})
    )

    assert len(kept) == len(bars) - 1
    assert bars.loc[100, "time"] not in set(kept["time"])
    assert [f.check for f in again.failures] == ["gap"]  # the hole it leaves is a gap, no more
    assert again.quarantined_rows == {"EURUSD": 1}


def test_more_than_the_max_share_quarantined_blocks(tmp_path: Path) -> None:
    bars = make_bars(n=300)
    bars.loc[10:14, "close"] = np.nan  # 5 of 300 rows = 1.7 % > 1 %

    report = validate({"EURUSD": bars}, tmp_path)

    assert report.blocking and not report.ok
    share = next(f for f in report.failures if f.check == "quarantine_share")
    assert share.count == 5 and share.severity == "error"
    assert "1.67% of 300 rows" in share.detail
    assert "BLOCKED" in report.to_markdown()


def test_max_share_is_configurable(tmp_path: Path) -> None:
    bars = make_bars(n=300)
    bars.loc[10:14, "close"] = np.nan
    report = validate({"EURUSD": bars}, tmp_path, config=ContractConfig(max_quarantine_share=0.05))
    assert not report.blocking


def test_schema_failure_blocks(tmp_path: Path) -> None:
    report = validate({"EURUSD": make_bars(n=50).drop(columns=["spread"])}, tmp_path)
    assert report.blocking
    assert [f.check for f in report.failures] == ["schema"]


def test_missing_time_cannot_be_quarantined_so_it_blocks(tmp_path: Path) -> None:
    bars = make_bars(n=300)
    bars.loc[5, "time"] = pd.NaT
    report = validate({"EURUSD": bars}, tmp_path)
    assert report.blocking
    assert "not_null:time" in {f.check for f in report.failures}


def test_warnings_alone_leave_the_report_ok(tmp_path: Path) -> None:
    bars = make_bars(n=300).drop(index=[50, 51]).reset_index(drop=True)
    report = validate({"EURUSD": bars}, tmp_path)
    assert report.ok and not report.blocking and report.quarantine == []
    assert [(f.check, f.severity) for f in report.failures] == [("gap", "warn")]
    assert "[warn]" in report.message()


def test_result_id_is_stable_for_the_same_data_and_differs_otherwise(tmp_path: Path) -> None:
    first = validate({"EURUSD": spiked()}, tmp_path / "1")
    second = validate({"EURUSD": spiked()}, tmp_path / "2")
    other = validate({"EURUSD": spiked(rows=(120,))}, tmp_path / "3")

    assert len(first.result_id) == 16 and int(first.result_id, 16) >= 0
    assert first.result_id == second.result_id
    assert other.result_id != first.result_id


def test_report_json_carries_severity_quarantine_and_monthly_share(tmp_path: Path) -> None:
    report = validate({"EURUSD": spiked()}, tmp_path)
    data = json.loads(json.dumps(report.to_dict()))

    assert data["blocking"] is False and data["ok"] is False
    assert data["failures"][0]["severity"] == "error"
    assert data["quarantine"][0]["check"] == "spike"
    assert data["missing_by_month"][0] == {
        "month": "2022-01",
        "listed": 1,
        "missing": 0,
        "share": 0.0,
        "symbols": "",
    }
    assert data["result_id"] == report.result_id


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_quarantine_round_trips_through_a_file(tmp_path: Path, suffix: str) -> None:
    entries = [
        QuarantineEntry(
            "GBPUSD",
            UTC_TS("2022-01-05 10:00", tz="UTC"),
            UTC_TS("2022-01-05 12:00", tz="UTC"),
            "stale",
        ),
        QuarantineEntry(
            "EURUSD",
            UTC_TS("2022-01-04 01:00", tz="UTC"),
            UTC_TS("2022-01-04 01:00", tz="UTC"),
            "spike",
        ),
    ]
    frame = quarantine_to_frame(entries)
    path = tmp_path / f"quarantine.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
        read = pd.read_csv(path)
    else:
        frame.to_parquet(path, index=False)
        read = pd.read_parquet(path)

    assert quarantine_from_frame(read) == sorted(entries)


def test_quarantine_from_frame_refuses_naive_times() -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["EURUSD"],
            "start": [pd.Timestamp("2022-01-04 01:00")],
            "end": [pd.Timestamp("2022-01-04 02:00")],
            "check": ["spike"],
        }
    )
    with pytest.raises(ValueError, match="tz-naive"):
        quarantine_from_frame(frame)


def test_entries_never_cover_a_clean_bar_between_flagged_ones() -> None:
    bars = make_bars(n=20)
    mask = np.zeros(20, dtype=bool)
    mask[[3, 4, 5, 8]] = True

    entries = quarantine_entries("EURUSD", bars["time"], mask, "stale")

    assert [(e.start, e.end) for e in entries] == [
        (bars.loc[3, "time"], bars.loc[5, "time"]),
        (bars.loc[8, "time"], bars.loc[8, "time"]),
    ]
    kept = apply_quarantine(bars, "EURUSD", entries)
    assert kept["time"].tolist() == bars.loc[~mask, "time"].tolist()
    assert apply_quarantine(bars, "GBPUSD", entries).equals(bars)  # other symbols untouched


def test_synthetic_market_passes_without_warnings(tmp_path: Path) -> None:
    """The demo's data: no failure, no warning, nothing quarantined, not blocking."""
    market = generate_market()
    report = validate_bars_set(
        market.bars, market.universe, site_dir=tmp_path / "docs", run_name="demo", timeframe="H1"
    )
    assert report.ok and not report.blocking, report.message()
    assert report.failures == [] and report.quarantine == []
    assert (report.missing_by_month["share"] == 0.0).all()
