"""The desk's symbols.toml: one table per symbol, the same rules as a stored record, and its
place between a terminal's record and the built-in table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_contracts.symbol_records import (
    BadSymbolSpecError,
    load_spec,
    load_specs,
    read_symbols_toml,
    symbols_toml_path,
    write_spec,
)
from data_contracts.symbols import SYMBOL_CALC_MODE_CFD, SYMBOL_SPECS, UnknownSymbolSpecError

DESK = """
[US500]
currency_base = "USD"
currency_profit = "USD"
digits = 2
trade_contract_size = 10
trade_calc_mode = 2
volume_min = 0.1
volume_step = 0.1
session_calendar = "CMES"

[EURUSD]
currency_base = "EUR"
currency_profit = "USD"
digits = 4
trade_contract_size = 100000
"""


def desk_file(tmp_path: Path, text: str = DESK) -> Path:
    path = symbols_toml_path(tmp_path)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_table_fills_what_follows_and_keeps_its_calendar(tmp_path: Path) -> None:
    specs = read_symbols_toml(desk_file(tmp_path))

    us500 = specs["US500"]
    assert (us500.point, us500.trade_tick_size, us500.trade_tick_value) == (0.01, 0.01, 0.1)
    assert us500.trade_calc_mode == SYMBOL_CALC_MODE_CFD and us500.volume_min == 0.1
    assert us500.session_calendar == "CMES"
    assert specs["EURUSD"].session_calendar is None


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ('digits = 2\ncurrency_base = "USD"\ncurrency_profit = "USD"\ntrade_contract_size = 1\n'
         "digitz = 3", r"\[US500\]: unknown field\(s\) \['digitz'\]"),
        ('currency_base = "USD"\ncurrency_profit = "USD"\ntrade_contract_size = 1',
         r"\[US500\]: US500 needs field\(s\) \['digits'\]"),
        ('currency_base = "USD"\ncurrency_profit = "USD"\ndigits = 2\ntrade_contract_size = 1\n'
         'session_calendar = "NYSE_CASH"', r"\[US500\]: session_calendar: 'NYSE_CASH' is not"),
        ('currency_base = "USD"\ncurrency_profit = "USD"\ndigits = 2\ntrade_contract_size = 1\n'
         'read_at = "2026-01-01"', r"unknown field\(s\) \['read_at'\]"),
    ],
)  # fmt: skip
def test_a_bad_table_is_refused_naming_the_file_the_table_and_the_field(
    tmp_path: Path, table: str, why: str
) -> None:
    path = desk_file(tmp_path, "[US500]\n" + table + "\n")
    with pytest.raises(BadSymbolSpecError, match=why) as refused:
        read_symbols_toml(path)
    assert str(path) in str(refused.value)


def test_a_key_that_is_not_a_table_or_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(BadSymbolSpecError, match="US500 = 3 is not a table"):
        read_symbols_toml(desk_file(tmp_path, "US500 = 3\n"))
    with pytest.raises(BadSymbolSpecError, match="not readable TOML"):
        read_symbols_toml(desk_file(tmp_path, "[US500\n"))


def test_the_terminals_record_beats_the_desk_file_which_beats_the_table(tmp_path: Path) -> None:
    desk_file(tmp_path)
    assert load_spec(tmp_path, "EURUSD").digits == 4 != SYMBOL_SPECS["EURUSD"].digits
    assert load_spec(tmp_path, "GBPUSD") == SYMBOL_SPECS["GBPUSD"]

    read = replace(SYMBOL_SPECS["EURUSD"], name="US500", trade_contract_size=1.0, digits=1)
    write_spec(tmp_path, read, source="SimTerminal.symbol_info", read_at=datetime.now(UTC))
    loaded = load_specs(tmp_path, ["US500", "EURUSD"])

    assert loaded["US500"].trade_contract_size == 1.0  # what the terminal reported
    assert loaded["US500"].session_calendar == "CMES"  # which no terminal can report


def test_an_unknown_symbol_is_refused_naming_symbols_toml_and_the_fields(tmp_path: Path) -> None:
    desk_file(tmp_path)
    with pytest.raises(UnknownSymbolSpecError) as refused:
        load_specs(tmp_path, ["US500", "GER40"])
    message = str(refused.value)
    assert "\n" not in message
    assert f"add a [GER40] table to {tmp_path / 'symbols.toml'}" in message
    for field in ("currency_base", "currency_profit", "digits", "trade_contract_size"):
        assert field in message
