"""Issue 13, as a desk runs it: an index CFD whose record names CME's calendar is validated
against it. `tate validate` runs as a subprocess from a foreign folder with only TATE_HOME
set, on a store holding a NY+7 import of US500 and its record (written as `tate symbols set`
and `tate ingest` write them, which other tests run as subprocesses): honest bars across
Thanksgiving and Christmas pass; a feed that quotes Christmas Day is refused naming
outside_session. One quoted bar alone would be quarantined and reported, not refused: that is
the contracts' row rule, and this test plants enough of the day to cross the quarantine limit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.store import BarStore
from data_contracts.symbol_records import record_server_time, spec_from_fields, write_spec
from tests.factories import make_bars_at, make_globex_times, make_universe
from tests.integration.test_serve_as_people_run_it import as_a_person, tate

pytestmark = pytest.mark.integration

SYMBOL = "US500"
SPEC = {
    "currency_base": "USD",
    "currency_profit": "USD",
    "digits": 1,
    "trade_contract_size": 1,
    "session_calendar": "CMES",
}
CLOSED = [
    ("2024-11-28 12:00", "2024-11-28 17:00"),  # Thanksgiving: noon close
    ("2024-11-29 12:00", "2024-11-29 17:00"),  # Black Friday: noon close
    ("2024-12-24 12:00", "2024-12-25 17:00"),  # Christmas Eve noon close, Christmas closed
]


def christmas_day_quotes(bars: pd.DataFrame) -> pd.DataFrame:
    """A feed quoting 25 December 00:00–16:00 Chicago at the last price before the holiday."""
    last = bars[bars["time"] < pd.Timestamp("2024-12-24 18:00", tz="UTC")].iloc[-1]
    times = pd.date_range("2024-12-25 00:00", "2024-12-25 16:00", freq="h", tz="America/Chicago")
    planted = pd.DataFrame([last] * len(times)).reset_index(drop=True)
    planted["time"] = pd.Series(times.tz_convert("UTC"), dtype=bars["time"].dtype)
    return planted.astype(bars.dtypes.to_dict())


@pytest.mark.timeout(240)  # two `tate validate` processes, each importing the stack
def test_an_index_cfd_on_cmes_passes_honest_bars_and_refuses_christmas_day_quotes(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env, _, folder = as_a_person(home, tmp_path)
    data = home / "data"
    store = BarStore(data)
    bars = make_bars_at(SYMBOL, make_globex_times("2024-11-17", "2024-12-28", CLOSED))
    store.write_bars(SYMBOL, "H1", bars)
    store.write_universe(make_universe([SYMBOL], listed_from=bars["time"].iloc[0]))
    record_server_time(data, SYMBOL, "NY+7")
    spec = spec_from_fields(SYMBOL, SPEC, source="desk file")
    write_spec(data, spec, source="desk file", read_at=datetime(2026, 3, 1, tzinfo=UTC))

    honest = tate(env, folder, "validate")

    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "failed" not in honest.stdout, honest.stdout

    planted = christmas_day_quotes(bars)
    store.write_bars(SYMBOL, "H1", planted)
    judged = tate(env, folder, "validate")

    assert judged.returncode == 1, judged.stdout + judged.stderr
    assert f"{SYMBOL}: outside_session failed on {len(planted)}" in judged.stderr
    summary = json.loads((home / "reports" / "validation" / "latest.json").read_text())
    assert [(q["symbol"], q["check"], q["start"], q["end"]) for q in summary["quarantine"]] == [
        (SYMBOL, "outside_session", "2024-12-25T06:00:00+00:00", "2024-12-25T22:00:00+00:00")
    ]
