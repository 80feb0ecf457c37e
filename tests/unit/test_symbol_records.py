"""A symbol's spec from a desk's file or a terminal, kept beside the bars; unknown is refused."""

from __future__ import annotations

import json
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_contracts.symbol_records import (
    BadSymbolSpecError,
    load_spec,
    read_spec_file,
    spec_from_symbol_info,
    spec_path,
    write_spec,
)
from data_contracts.symbols import SYMBOL_SPECS, UnknownSymbolSpecError

INDEX = {"currency_base": "USD", "currency_profit": "USD", "digits": 1, "trade_contract_size": 1}


def spec_file(tmp_path: Path, values: dict[str, object]) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(values))
    return path


def test_a_desks_minimal_file_fills_what_follows_from_it(tmp_path: Path) -> None:
    spec = read_spec_file(spec_file(tmp_path, INDEX), "US500")
    assert (spec.point, spec.trade_tick_size, spec.trade_tick_value) == (0.1, 0.1, 0.1)
    assert spec.currency_margin == "USD" and spec.description == "US500"


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({k: v for k, v in INDEX.items() if k != "digits"}, r"needs field\(s\) \['digits'\]"),
        ({**INDEX, "digitz": 2}, r"unknown field\(s\) \['digitz'\]"),
        ({**INDEX, "digits": "1"}, "digits must be a number"),
        ({**INDEX, "trade_contract_size": 0}, "trade_contract_size > 0"),
        ({**INDEX, "name": "US30"}, "names 'US30', not 'US500'"),
        ({**INDEX, "session_calendar": "CME_GLOBEX"}, "session_calendar: 'CME_GLOBEX' is not"),
        ({**INDEX, "session_calendar": 17}, "session_calendar must be text"),
    ],
)
def test_a_bad_spec_file_is_refused_naming_the_field(
    tmp_path: Path, values: dict[str, object], why: str
) -> None:
    with pytest.raises(BadSymbolSpecError, match=why):
        read_spec_file(spec_file(tmp_path, values), "US500")


def test_a_stored_record_beats_the_table_and_keeps_when_it_was_read(tmp_path: Path) -> None:
    own = read_spec_file(spec_file(tmp_path, {**INDEX, "currency_base": "EUR"}), "EURUSD")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    write_spec(tmp_path, own, source="desk", read_at=at)

    assert load_spec(tmp_path, "EURUSD") == own != SYMBOL_SPECS["EURUSD"]
    assert json.loads(spec_path(tmp_path, "EURUSD").read_text())["read_at"] == at.isoformat()
    assert load_spec(tmp_path, "GBPUSD") == SYMBOL_SPECS["GBPUSD"]


def test_an_unknown_symbol_is_refused_naming_the_file_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(UnknownSymbolSpecError) as refused:
        load_spec(tmp_path, "NOISEA")
    message = str(refused.value)
    assert str(tmp_path / "symbols" / "NOISEA.json") in message
    assert "tate symbols set NOISEA --spec FILE" in message and "trade_contract_size" in message


def test_a_terminals_symbol_info_becomes_the_record() -> None:
    fields = ("currency_base", "currency_profit", "digits", "trade_contract_size", "spread", "bid")
    Info = namedtuple("Info", fields)  # MT5 answers a named tuple
    spec = spec_from_symbol_info("XAUUSD", Info("XAU", "USD", 2, 100.0, 25, 2300.0))
    assert (spec.point, spec.trade_contract_size, spec.typical_spread) == (0.01, 100.0, 25)
