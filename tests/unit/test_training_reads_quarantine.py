"""Training reads the store minus the quarantine the validation wrote; the raw bars stay whole."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data_contracts.quarantine import QuarantineEntry, quarantine_to_frame
from flows.train_flow import drop_quarantined
from tests.factories import make_bars


def test_quarantined_rows_are_left_out_of_training(tmp_path: Path) -> None:
    bars = {"EURUSD": make_bars("EURUSD", n=200), "GBPUSD": make_bars("GBPUSD", n=200)}
    times = bars["EURUSD"]["time"]
    entries = [QuarantineEntry("EURUSD", times.iloc[10], times.iloc[12], "high_ge_open_close")]
    path = tmp_path / "quarantine.csv"
    quarantine_to_frame(entries).to_csv(path, index=False)

    kept, dropped = drop_quarantined.fn(bars, str(path))

    assert dropped == 3
    assert len(kept["EURUSD"]) == 197 and len(kept["GBPUSD"]) == 200
    assert not kept["EURUSD"]["time"].isin(times.iloc[10:13]).any()
    assert len(bars["EURUSD"]) == 200, "the bars read from the store are not edited"
    pd.testing.assert_frame_equal(kept["GBPUSD"], bars["GBPUSD"])
