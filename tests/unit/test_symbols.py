"""The symbol record: one table every layer reads, one conversion into the account currency."""

from __future__ import annotations

import numpy as np
import pytest

from data_contracts import symbols
from data_contracts.symbols import (
    SYMBOL_SPECS,
    UnconvertibleCurrencyError,
    UnknownSymbolSpecError,
    lookup_spec,
    tick_value,
    to_account_currency,
)
from serving.mt5 import constants as mt5


def test_an_unknown_symbol_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownSymbolSpecError, match=r"'EURXXX'.*EURUSD"):
        lookup_spec("EURXXX")


def test_the_record_defaults_use_the_terminal_enum_values() -> None:
    names = [n for n in dir(symbols) if n.startswith(("SYMBOL_", "DAY_OF_WEEK_"))]
    names.remove("SYMBOL_SPECS")
    assert names, "the scan finds the enum values"
    assert {n: getattr(symbols, n) for n in names} == {n: getattr(mt5, n) for n in names}


def test_every_record_sits_on_its_own_tick_grid() -> None:
    for name, spec in SYMBOL_SPECS.items():
        assert spec.name == name
        assert spec.point == 10.0**-spec.digits == spec.trade_tick_size
        assert spec.volume_min <= spec.volume_max and spec.volume_step > 0


def test_a_price_move_is_valued_through_the_currency_the_account_holds() -> None:
    eurusd, usdjpy = lookup_spec("EURUSD"), lookup_spec("USDJPY")
    assert to_account_currency(100_000.0, "USD", eurusd, 1.1, "USD") == 100_000.0
    assert to_account_currency(100_000.0, "JPY", usdjpy, 150.0, "USD") == 100_000.0 / 150.0
    assert to_account_currency(100_000.0, "EUR", eurusd, 1.1, "USD") == 100_000.0 * 1.1
    prices = np.array([150.0, 120.0])
    np.testing.assert_array_equal(
        to_account_currency(1.0, "JPY", usdjpy, prices, "USD"), 1.0 / prices
    )


def test_a_cross_cannot_be_valued_from_its_own_price() -> None:
    with pytest.raises(UnconvertibleCurrencyError, match="EURJPY"):
        to_account_currency(1.0, "JPY", lookup_spec("EURJPY"), 160.0, "USD")


def test_tick_value_is_recomputed_from_the_price_or_kept_for_a_cross() -> None:
    assert tick_value(lookup_spec("EURUSD"), 1.1, "USD") == pytest.approx(1.0)
    assert tick_value(lookup_spec("USDJPY"), 125.0, "USD") == pytest.approx(0.8)
    eurjpy = lookup_spec("EURJPY")
    assert tick_value(eurjpy, 160.0, "USD") == eurjpy.trade_tick_value
    assert tick_value(lookup_spec("USDJPY"), 0.0, "USD") == lookup_spec("USDJPY").trade_tick_value
