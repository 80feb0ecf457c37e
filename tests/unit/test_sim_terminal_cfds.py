"""SimTerminal trades a metal and an index CFD from their records as it trades a currency
pair: profit in the profit currency (converted to the account's), margin on contract × price,
and the backtest's cost model values a price move the same way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts.symbol_records import spec_from_fields
from data_contracts.symbols import SYMBOL_CALC_MODE_CFD, SYMBOL_SPECS
from models.costs import CostModel
from models.sizing import fractions_by_symbol
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal

US500 = spec_from_fields(
    "US500",
    {
        "currency_base": "USD",
        "currency_profit": "USD",
        "digits": 2,
        "trade_contract_size": 10,
        "trade_calc_mode": SYMBOL_CALC_MODE_CFD,
        "volume_min": 0.1,
        "volume_step": 0.1,
        "session_calendar": "CMES",
    },
    source="test",
)
SPECS = {"US500": US500, "XAUUSD": SYMBOL_SPECS["XAUUSD"], "USDJPY": SYMBOL_SPECS["USDJPY"]}
OPENS = {"US500": (5000.0, 5010.0, 5025.5), "XAUUSD": (2000.0, 2003.0, 2007.25)}


def bars(opens: tuple[float, ...], spread: int) -> pd.DataFrame:
    price = np.asarray(opens)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-03-04 14:00", periods=len(price), freq="h", tz="UTC"),
            "open": price,
            "high": price + 1.0,
            "low": price - 1.0,
            "close": price,
            "tick_volume": np.full(len(price), 100, dtype="int64"),
            "spread": np.full(len(price), spread, dtype="int64"),
            "real_volume": np.zeros(len(price), dtype="int64"),
        }
    )


def send(term: SimTerminal, symbol: str, volume: float, *, buy: bool) -> float:
    tick = term.symbol_info_tick(symbol)
    result = term.order_send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": symbol,
            "volume": volume,
            "type": mt5.ORDER_TYPE_BUY if buy else mt5.ORDER_TYPE_SELL,
            "price": tick.ask if buy else tick.bid,
            "deviation": 10,
            "magic": 7,
            "type_filling": mt5.ORDER_FILLING_FOK,
        }
    )
    assert result.retcode == mt5.TRADE_RETCODE_DONE, result
    return float(result.price)


@pytest.mark.parametrize(("symbol", "volume", "spread"), [("US500", 0.5, 50), ("XAUUSD", 0.2, 20)])
def test_a_cfd_profits_contract_times_move_and_margins_on_its_notional(
    symbol: str, volume: float, spread: int
) -> None:
    spec = SPECS[symbol]
    term = SimTerminal(
        {symbol: bars(OPENS[symbol], spread)},
        specs=SPECS,
        costs=CostModel(commission_per_lot=0.0),
        leverage=20,
    )
    term.initialize()

    paid = send(term, symbol, volume, buy=True)
    margin = term.account_info().margin
    term.advance()
    got = send(term, symbol, volume, buy=False)

    assert paid == pytest.approx(OPENS[symbol][0] + spread * spec.point)
    assert margin == pytest.approx(round(volume * spec.trade_contract_size * paid / 20, 2), 0.01)
    close = [d for d in term.history_deals_get(0, 2**40) if d.entry == mt5.DEAL_ENTRY_OUT]
    expected = (got - paid) * spec.trade_contract_size * volume
    assert close[0].profit == pytest.approx(expected, abs=0.01)
    assert term.account_info().balance == pytest.approx(10_000.0 + expected, abs=0.01)
    # the backtest's cost model values the same move the same way
    value = CostModel(specs=SPECS).value_per_price_unit(symbol, got)
    assert float(value) * (got - paid) * volume == pytest.approx(expected, abs=0.01)


def test_a_price_move_of_a_yen_pair_is_converted_to_the_account_currency() -> None:
    costs = CostModel(specs=SPECS)
    assert float(costs.value_per_price_unit("USDJPY", 150.0)) == pytest.approx(100_000 / 150)
    assert float(costs.notional("US500", 5000.0)) == pytest.approx(50_000.0)
    assert float(costs.notional("XAUUSD", 2000.0)) == pytest.approx(200_000.0)


def test_training_sizes_each_symbol_on_its_own_volume_grid() -> None:
    symbols = np.array(["US500", "US500", "XAUUSD", "XAUUSD"], dtype=object)
    signal = np.array([1.0, -1.0, 1.0, -1.0])
    confidence = np.array([0.05, 0.37, 0.05, 0.37])

    positions = fractions_by_symbol(symbols, signal, confidence, SPECS)

    # an index CFD trading 0.1-lot steps cannot hold 0.05 lots; gold's 0.01 grid can
    assert positions.tolist() == [0.0, -0.3, 0.05, -0.37]
