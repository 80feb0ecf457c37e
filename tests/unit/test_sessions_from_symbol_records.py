"""Validation takes each symbol's session from its record and its import: an index CFD whose
record names an exchange calendar is judged by it in the import's clock; FX and metals
without one keep the FX week of their server time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_contracts.calendar_sessions import CalendarSession
from data_contracts.sessions import FX_NEW_YORK_CLOSE
from data_contracts.symbol_records import (
    BadSymbolSpecError,
    load_spec,
    read_spec_file,
    record_server_time,
    write_spec,
)
from flows.data_flows import symbol_sessions

INDEX = {
    "currency_base": "USD",
    "currency_profit": "USD",
    "digits": 1,
    "trade_contract_size": 1,
    "session_calendar": "CMES",
}


def store_spec(data: Path, symbol: str, values: dict[str, object]) -> None:
    path = data.parent / f"{symbol}.json"
    path.write_text(json.dumps(values))
    spec = read_spec_file(path, symbol)
    write_spec(data, spec, source="desk", read_at=datetime(2026, 3, 1, tzinfo=UTC))


def test_the_record_names_the_calendar_and_the_import_the_clock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store_spec(data, "US500", INDEX)
    store_spec(
        data,
        "GER40",
        {**INDEX, "currency_base": "EUR", "currency_profit": "EUR", "session_calendar": "XETR"},
    )
    for symbol in ("US500", "EURUSD", "XAUUSD"):
        record_server_time(data, symbol, "NY+7")

    sessions = symbol_sessions(data, ["US500", "GER40", "EURUSD", "XAUUSD", "GBPUSD"])

    assert load_spec(data, "US500").session_calendar == "CMES"  # kept by the stored record
    assert sessions == {
        "US500": CalendarSession("CMES", clock="NY+7"),
        "GER40": CalendarSession("XETR", clock="UTC"),  # synthetic-style: written in UTC
        "EURUSD": FX_NEW_YORK_CLOSE,
        "XAUUSD": FX_NEW_YORK_CLOSE,
    }  # GBPUSD: never imported, no calendar: the contracts' default week


def test_a_record_naming_an_unknown_calendar_is_refused_naming_the_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "symbols").mkdir(parents=True)
    (data / "symbols" / "US500.json").write_text(
        json.dumps({**INDEX, "session_calendar": "GLOBEX"})
    )
    with pytest.raises(BadSymbolSpecError, match=r"US500\.json.*session_calendar: 'GLOBEX' is not"):
        symbol_sessions(data, ["US500"])
