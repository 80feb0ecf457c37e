"""Symbol specifications as a retail FX broker reports them through ``symbol_info``.

The numbers are what a typical MT5 ECN/raw-spread account shows for the four majors
(5-digit quotes, 3 for JPY; 1 lot = 100,000 base units; 0.01-lot steps; FOK and IOC
filling allowed; market execution; full trade mode). Tick value is in the account currency:
for USD-quoted pairs it is fixed (1 tick × 100,000 = 1 USD), for USD-based pairs the broker
recomputes it from the current price, and :func:`tick_value` does the same. Swaps are listed
for realism but SimTerminal does not charge them.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.mt5 import constants as mt5


@dataclass(frozen=True)
class SymbolSpec:
    """The static part of ``symbol_info()`` that trading decisions depend on."""

    name: str
    description: str
    currency_base: str
    currency_profit: str
    digits: int
    point: float
    trade_tick_size: float
    trade_tick_value: float
    trade_contract_size: float = 100_000.0
    volume_min: float = 0.01
    volume_max: float = 100.0
    volume_step: float = 0.01
    volume_limit: float = 0.0
    filling_mode: int = mt5.SYMBOL_FILLING_FOK | mt5.SYMBOL_FILLING_IOC
    trade_mode: int = mt5.SYMBOL_TRADE_MODE_FULL
    trade_exemode: int = mt5.SYMBOL_TRADE_EXECUTION_MARKET
    trade_calc_mode: int = mt5.SYMBOL_CALC_MODE_FOREX
    trade_stops_level: int = 0
    trade_freeze_level: int = 0
    order_mode: int = 127  # market, limit, stop, stop-limit, SL, TP, close-by
    expiration_mode: int = 15  # GTC, day, specified, specified day
    swap_mode: int = mt5.SYMBOL_SWAP_MODE_POINTS
    swap_long: float = 0.0
    swap_short: float = 0.0
    swap_rollover3days: int = mt5.DAY_OF_WEEK_WEDNESDAY
    margin_hedged: float = 50_000.0
    typical_spread: int = 2

    @property
    def currency_margin(self) -> str:
        return self.currency_base


SYMBOL_SPECS: dict[str, SymbolSpec] = {
    "EURUSD": SymbolSpec(
        name="EURUSD",
        description="Euro vs US Dollar",
        currency_base="EUR",
        currency_profit="USD",
        digits=5,
        point=1e-5,
        trade_tick_size=1e-5,
        trade_tick_value=1.0,
        swap_long=-7.1,
        swap_short=2.3,
        typical_spread=2,
    ),
    "GBPUSD": SymbolSpec(
        name="GBPUSD",
        description="Great Britain Pound vs US Dollar",
        currency_base="GBP",
        currency_profit="USD",
        digits=5,
        point=1e-5,
        trade_tick_size=1e-5,
        trade_tick_value=1.0,
        swap_long=-3.4,
        swap_short=-1.9,
        typical_spread=3,
    ),
    "USDJPY": SymbolSpec(
        name="USDJPY",
        description="US Dollar vs Japanese Yen",
        currency_base="USD",
        currency_profit="JPY",
        digits=3,
        point=1e-3,
        trade_tick_size=1e-3,
        trade_tick_value=0.6667,  # 100 JPY at USDJPY 150; recomputed from the price
        swap_long=14.6,
        swap_short=-31.2,
        typical_spread=3,
    ),
    "USDCHF": SymbolSpec(
        name="USDCHF",
        description="US Dollar vs Swiss Franc",
        currency_base="USD",
        currency_profit="CHF",
        digits=5,
        point=1e-5,
        trade_tick_size=1e-5,
        trade_tick_value=1.1111,  # 1 CHF at USDCHF 0.90; recomputed from the price
        swap_long=4.9,
        swap_short=-12.8,
        typical_spread=3,
    ),
}


def tick_value(spec: SymbolSpec, bid: float, account_currency: str = "USD") -> float:
    """Account-currency value of one tick for one lot, as the terminal recomputes it.

    Only the two cases of USD-account FX majors are derived; anything else keeps the
    broker's static figure.
    """
    if spec.currency_profit == account_currency:
        return spec.trade_tick_size * spec.trade_contract_size
    if spec.currency_base == account_currency and bid > 0:
        return spec.trade_tick_size * spec.trade_contract_size / bid
    return spec.trade_tick_value


class UnknownSymbolSpecError(KeyError):
    """No specification is known for a symbol that is to be simulated or sized.

    Operator action: trade (or replay) only the symbols the message lists as known, e.g. by
    leaving the others out of `TATE_SYMBOLS` or the store; a KeyError for callers that look
    specs up like a mapping.
    """

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else ""


def lookup_spec(symbol: str) -> SymbolSpec:
    """The spec for ``symbol``; raises UnknownSymbolSpecError naming the known symbols."""
    try:
        return SYMBOL_SPECS[symbol]
    except KeyError:
        raise UnknownSymbolSpecError(
            f"no symbol spec for {symbol!r}; known: {sorted(SYMBOL_SPECS)}"
        ) from None
