"""What a symbol is, as MT5's ``symbol_info`` reports it: the one record every layer reads.

Validation, the synthetic market, the cost model, sizing and SimTerminal all need a symbol's
tick size, digits, contract size and currencies; they read them here, under MT5's own field
names, so a later step can fill the table from a terminal or an export file without
translating. The numbers are what a typical MT5 ECN/raw-spread account shows (5-digit quotes,
3 for JPY, 2 for gold; 1 lot = 100,000 base units of a currency pair; 0.01-lot steps; FOK and
IOC filling allowed; market execution; full trade mode). Swaps are listed for realism;
nothing charges them yet.

The other fact kept here is how a symbol turns an amount into the account currency: from its
own price, when the account currency is its base or its profit currency
(:func:`to_account_currency`). ``trade_tick_value`` in the table is the broker's static
figure at some past price; :func:`tick_value` recomputes it as the terminal does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import NDArray

# MT5 enum values the defaults use; equal to ``serving.mt5.constants`` (a unit test checks),
# spelled out because data_contracts/ sits below serving/.
SYMBOL_FILLING_FOK = 1
SYMBOL_FILLING_IOC = 2
SYMBOL_TRADE_MODE_FULL = 4
SYMBOL_TRADE_EXECUTION_MARKET = 2
SYMBOL_CALC_MODE_FOREX = 0
SYMBOL_CALC_MODE_CFD = 2
SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE = 5
SYMBOL_SWAP_MODE_POINTS = 1
DAY_OF_WEEK_WEDNESDAY = 3


# A symbol names a folder of the store (and a lock, a report): a plain word, checked before
# any path is built, so `../x` or `EUR/USD` can never reach outside or nest inside one.
VALID_SYMBOL_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")


class BadSymbolError(Exception):
    """A symbol name is not one the store accepts (it would become a path); the message names it.

    Operator action: use the broker's symbol name, 1 to 32 letters, digits, '.', '_' or '-'
    (e.g. ``EURUSD``, ``US500.cash``; not ``EUR/USD``, not a path).
    """


def check_symbol(symbol: str) -> str:
    """Return ``symbol`` if it matches ``VALID_SYMBOL_NAME`` (and is not ``.``/``..``).

    Raises:
        BadSymbolError: naming the symbol and the pattern.
    """
    if (
        not isinstance(symbol, str)
        or not VALID_SYMBOL_NAME.fullmatch(symbol)
        or symbol in (".", "..")
    ):
        raise BadSymbolError(
            f"symbol {symbol!r} refused: a symbol is 1 to 32 letters, digits, '.', '_' or '-' "
            "(not '.' or '..')"
        )
    return symbol


@dataclass(frozen=True)
class SymbolSpec:
    """The static part of ``symbol_info()`` that trading decisions depend on (MT5 names)."""

    name: str
    description: str
    currency_base: str
    currency_profit: str
    currency_margin: str
    digits: int
    point: float
    trade_tick_size: float
    trade_tick_value: float  # static figure; see tick_value() for the price-dependent rule
    trade_contract_size: float = 100_000.0
    volume_min: float = 0.01
    volume_max: float = 100.0
    volume_step: float = 0.01
    volume_limit: float = 0.0
    filling_mode: int = SYMBOL_FILLING_FOK | SYMBOL_FILLING_IOC
    trade_mode: int = SYMBOL_TRADE_MODE_FULL
    trade_exemode: int = SYMBOL_TRADE_EXECUTION_MARKET
    trade_calc_mode: int = SYMBOL_CALC_MODE_FOREX
    trade_stops_level: int = 0
    trade_freeze_level: int = 0
    order_mode: int = 127  # market, limit, stop, stop-limit, SL, TP, close-by
    expiration_mode: int = 15  # GTC, day, specified, specified day
    swap_mode: int = SYMBOL_SWAP_MODE_POINTS
    swap_long: float = 0.0
    swap_short: float = 0.0
    swap_rollover3days: int = DAY_OF_WEEK_WEDNESDAY
    margin_hedged: float = 50_000.0
    typical_spread: int = 2
    # tate's own field (MT5 exposes no session times): the exchange-calendars name whose
    # trading minutes the symbol's bars follow, e.g. "CMES" for an index CFD on CME futures;
    # None keeps the FX week in the broker's server time
    session_calendar: str | None = None


def _fx(
    name: str,
    description: str,
    digits: int,
    tick_value: float,
    swaps: tuple[float, float],
    spread: int,
) -> SymbolSpec:
    """A currency pair: base = margin currency, profit = quote currency, point = tick size."""
    point = 10.0**-digits
    return SymbolSpec(
        name=name,
        description=description,
        currency_base=name[:3],
        currency_profit=name[3:6],
        currency_margin=name[:3],
        digits=digits,
        point=point,
        trade_tick_size=point,
        trade_tick_value=tick_value,
        swap_long=swaps[0],
        swap_short=swaps[1],
        typical_spread=spread,
    )


SYMBOL_SPECS: dict[str, SymbolSpec] = {
    spec.name: spec
    for spec in (
        _fx("EURUSD", "Euro vs US Dollar", 5, 1.0, (-7.1, 2.3), 2),
        _fx("GBPUSD", "Great Britain Pound vs US Dollar", 5, 1.0, (-3.4, -1.9), 3),
        # 100 JPY at USDJPY 150 and 1 CHF at USDCHF 0.90; recomputed from the price
        _fx("USDJPY", "US Dollar vs Japanese Yen", 3, 0.6667, (14.6, -31.2), 3),
        _fx("USDCHF", "US Dollar vs Swiss Franc", 5, 1.1111, (4.9, -12.8), 3),
        _fx("AUDUSD", "Australian Dollar vs US Dollar", 5, 1.0, (-2.6, -0.4), 2),
        _fx("NZDUSD", "New Zealand Dollar vs US Dollar", 5, 1.0, (-1.8, -0.9), 3),
        _fx("USDCAD", "US Dollar vs Canadian Dollar", 5, 0.7407, (1.2, -6.5), 3),
        # a cross: a USD account values it at a rate its own bars do not carry
        _fx("EURJPY", "Euro vs Japanese Yen", 3, 0.6667, (-4.1, 0.9), 3),
        SymbolSpec(
            name="XAUUSD",
            description="Gold vs US Dollar",
            currency_base="XAU",
            currency_profit="USD",
            currency_margin="USD",
            digits=2,
            point=0.01,
            trade_tick_size=0.01,
            trade_tick_value=1.0,
            trade_contract_size=100.0,
            trade_calc_mode=SYMBOL_CALC_MODE_CFD,
            margin_hedged=50.0,
            typical_spread=20,
        ),
        SymbolSpec(
            name="XAGUSD",
            description="Silver vs US Dollar",
            currency_base="XAG",
            currency_profit="USD",
            currency_margin="USD",
            digits=3,
            point=0.001,
            trade_tick_size=0.001,
            trade_tick_value=5.0,
            trade_contract_size=5_000.0,
            trade_calc_mode=SYMBOL_CALC_MODE_CFD,
            margin_hedged=2_500.0,
            typical_spread=25,
        ),
    )
}


class UnknownSymbolSpecError(KeyError):
    """No specification is known for a symbol that is to be simulated, costed or sized.

    Operator action: trade (or replay, or train on) only the symbols the message lists as
    known, e.g. by leaving the others out of `TATE_SYMBOLS` or the store; a KeyError for
    callers that look specs up like a mapping.
    """

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else ""


class UnconvertibleCurrencyError(ValueError):
    """An amount cannot be valued in the account currency from the symbol's own price (a
    cross pair needs a second rate no bar of it carries).

    Operator action: trade or train on symbols quoted in or based on the account currency.
    """


def lookup_spec(symbol: str) -> SymbolSpec:
    """The spec for ``symbol``; raises UnknownSymbolSpecError naming it and the known ones."""
    try:
        return SYMBOL_SPECS[symbol]
    except KeyError:
        raise UnknownSymbolSpecError(
            f"no symbol spec for {symbol!r}; known: {sorted(SYMBOL_SPECS)}"
        ) from None


@overload
def to_account_currency(
    amount: float, currency: str, spec: SymbolSpec, price: float, account_currency: str
) -> float: ...
@overload
def to_account_currency(
    amount: float,
    currency: str,
    spec: SymbolSpec,
    price: NDArray[np.float64],
    account_currency: str,
) -> float | NDArray[np.float64]: ...
def to_account_currency(
    amount: float,
    currency: str,
    spec: SymbolSpec,
    price: float | NDArray[np.float64],
    account_currency: str,
) -> float | NDArray[np.float64]:
    """``amount`` of ``currency`` (the symbol's base or profit currency) in the account
    currency, converted at the symbol's ``price`` (profit-currency units per base unit).

    Used for a price move's value (an amount in the profit currency), a lot's notional and
    margin (amounts in the base currency). A scalar ``amount`` comes back unchanged when no
    conversion is needed, even for an array of prices.

    Raises:
        UnconvertibleCurrencyError: neither the symbol's base nor its profit currency is the
            account currency (or ``currency`` is neither of the symbol's).
    """
    if currency == account_currency:
        return amount
    if currency == spec.currency_profit and spec.currency_base == account_currency:
        return amount / price
    if currency == spec.currency_base and spec.currency_profit == account_currency:
        return amount * price
    raise UnconvertibleCurrencyError(
        f"{spec.name}: cannot value {currency} in {account_currency} from its own price "
        f"(base {spec.currency_base}, profit {spec.currency_profit})"
    )


def lot_notional(
    spec: SymbolSpec, price: float | NDArray[np.float64], account_currency: str
) -> float | NDArray[np.float64]:
    """Account-currency value of one lot at ``price``, as MT5 margins it per calc mode.

    A currency pair's lot is ``trade_contract_size`` units of its base currency; any other
    calc mode (CFD, index CFD, futures: metals and indices) is contract size × price in the
    profit currency (an index CFD's base currency is not a quantity that has a price).

    Raises:
        UnconvertibleCurrencyError: the amount cannot be valued from the symbol's own price.
    """
    if spec.trade_calc_mode in (SYMBOL_CALC_MODE_FOREX, SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE):
        return to_account_currency(
            spec.trade_contract_size, spec.currency_base, spec, price, account_currency
        )
    # conversion is linear in the amount: convert the contract, then scale by the price
    per_unit = to_account_currency(
        spec.trade_contract_size, spec.currency_profit, spec, price, account_currency
    )
    return per_unit * price


def tick_value(spec: SymbolSpec, bid: float, account_currency: str) -> float:
    """Account-currency value of one tick for one lot, as the terminal recomputes it.

    Falls back to the broker's static ``trade_tick_value`` when the symbol's own price cannot
    convert (a cross pair, or no price yet).
    """
    amount = spec.trade_tick_size * spec.trade_contract_size
    if spec.currency_profit != account_currency and bid <= 0:
        return spec.trade_tick_value
    try:
        return to_account_currency(amount, spec.currency_profit, spec, bid, account_currency)
    except UnconvertibleCurrencyError:
        return spec.trade_tick_value
