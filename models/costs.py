"""One cost model for the backtest and SimTerminal, so a backtest and a replay agree.

The execution model both sides implement (SimTerminal by filling orders, the backtest by
arithmetic on bars):

- A decision made at the close of bar t fills at the open of bar t + 1 + ``latency_bars``.
- Bars are bid prices. A buy pays the ask (bid + the fill bar's spread × point), a sell gets the
  bid, so a round trip costs exactly one spread, paid on the buying side (a short pays it when
  it is bought back). Charging half a spread per side instead would be off by the difference
  between the entry and exit bars' spreads on every trade.
- Every fill slips against the trader by ``slippage_fixed_points`` plus
  ``slippage_range_fraction`` × the high-low range (in points) of the last *closed* bar before
  the fill: fills slip more when the market moves more, and the closed bar is the volatility
  both sides know at fill time. The result is rounded *up* to whole points, because fills land
  on the price grid and a fraction of a tick still moves the fill by one tick.
- Every fill pays ``commission_per_lot`` per lot, in the account currency.

A symbol's facts (tick size, contract size, currencies, calc mode) come from its one record:
the ``specs`` a command loaded at its start (``data_contracts.symbol_records.load_specs``:
a terminal's record, the desk's ``symbols.toml``, or the built-in table) and passed in here;
a model without ``specs`` falls back to the built-in table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from data_contracts.symbols import (
    SymbolSpec,
    lookup_spec,
    lot_notional,
    to_account_currency,
)

_GRID_EPS = 1e-9  # float noise allowed before a value counts as the next whole point


def point_for(symbol: str) -> float:
    """Tick size of ``symbol`` from its record (``data_contracts.symbols``), for callers that
    were given no terminal's figure.

    Raises:
        UnknownSymbolSpecError: no record for ``symbol``.
    """
    return lookup_spec(symbol).point


def range_points(high: ArrayLike, low: ArrayLike, point: float) -> NDArray[np.float64]:
    """A bar's high-low range in whole points (bars sit on the price grid; rounding drops noise)."""
    diff = np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64)
    return np.round(diff / point)


def slippage_points(
    range_pts: ArrayLike, *, fixed_points: float, range_fraction: float
) -> NDArray[np.float64]:
    """Adverse slippage of one fill in whole points: fixed + fraction × last closed bar's range.

    The single formula the backtest (vectorised over bars) and SimTerminal (per order) share.
    Rounded up: a fill cannot land between ticks, and slippage never favours the trader.
    """
    raw = fixed_points + range_fraction * np.asarray(range_pts, dtype=np.float64)
    return np.maximum(np.ceil(raw - _GRID_EPS), 0.0)


@dataclass(frozen=True)
class CostModel:
    """Trading frictions, shared by ``models.backtest`` and ``serving.SimTerminal``.

    Attributes:
        commission_per_lot: account-currency commission per lot and per side (fill).
        contract_size: units of the base currency in one lot for every symbol; None (the
            default): each symbol's own ``trade_contract_size`` (100 oz of gold, 1 index unit).
        slippage_fixed_points: adverse slippage of every fill, in points.
        slippage_range_fraction: extra adverse slippage per fill as a fraction of the last
            closed bar's high-low range in points (the volatility-proportional part).
        latency_bars: bars between a decision's bar and its fill: 0 fills at the next bar's
            open, 1 at the open after that.
        account_currency: currency of the account (commissions and PnL).
        specs: the symbols' records by name (loaded once by the command); a symbol not in
            it is looked up in the built-in table. Not a cost parameter: never logged.
    """

    commission_per_lot: float = 3.5
    contract_size: float | None = None
    slippage_fixed_points: float = 0.0
    slippage_range_fraction: float = 0.0
    latency_bars: int = 0
    account_currency: str = "USD"
    specs: Mapping[str, SymbolSpec] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be a finite non-negative number, got {value!r}"
            for name, value in (
                ("commission_per_lot", self.commission_per_lot),
                ("slippage_fixed_points", self.slippage_fixed_points),
                ("slippage_range_fraction", self.slippage_range_fraction),
            )
            if not (math.isfinite(value) and value >= 0)
        ]
        size = self.contract_size
        if size is not None and not (math.isfinite(size) and size > 0):
            problems.append(f"contract_size must be positive, got {self.contract_size!r}")
        latency = self.latency_bars
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            problems.append(f"latency_bars must be a whole number of bars >= 0, got {latency!r}")
        if len(self.account_currency) != 3:
            problems.append(f"account_currency must be a 3-letter code: {self.account_currency!r}")
        if problems:
            raise ValueError("invalid cost model: " + "; ".join(problems))

    def spec(self, symbol: str) -> SymbolSpec:
        """``symbol``'s record: the loaded ``specs``, else the built-in table.

        Raises:
            UnknownSymbolSpecError: in neither.
        """
        found = self.specs.get(symbol)
        return found if found is not None else lookup_spec(symbol)

    def point(self, symbol: str) -> float:
        """``symbol``'s tick size from its record."""
        return self.spec(symbol).point

    def cost_params(self) -> dict[str, float | int | str]:
        """The cost parameters, for a run's params (the symbol records are data, not params):
        ``contract_size`` says ``per symbol`` when each symbol's record gives it."""
        return {
            "commission_per_lot": self.commission_per_lot,
            "contract_size": "per symbol" if self.contract_size is None else self.contract_size,
            "slippage_fixed_points": self.slippage_fixed_points,
            "slippage_range_fraction": self.slippage_range_fraction,
            "latency_bars": self.latency_bars,
            "account_currency": self.account_currency,
        }

    def commission(self, volume_lots: float) -> float:
        """Commission in account currency for one fill of ``volume_lots``."""
        return abs(volume_lots) * self.commission_per_lot

    def slippage_points(self, range_pts: ArrayLike) -> NDArray[np.float64]:
        """This model's adverse slippage per fill, in points (see ``slippage_points``)."""
        return slippage_points(
            range_pts,
            fixed_points=self.slippage_fixed_points,
            range_fraction=self.slippage_range_fraction,
        )

    def notional(self, symbol: str, price: ArrayLike) -> NDArray[np.float64]:
        """Account-currency value of one lot at ``price``: a currency pair's contract in its
        base currency, a CFD's (metal, index) contract × price in its profit currency.

        Raises:
            UnknownSymbolSpecError: no record for ``symbol``.
            UnconvertibleCurrencyError: a cross pair (see ``to_account_currency``).
        """
        prices = np.asarray(price, dtype=np.float64)
        value = lot_notional(self._sized(symbol), prices, self.account_currency)
        return np.broadcast_to(np.asarray(value, dtype=np.float64), prices.shape).copy()

    def value_per_price_unit(self, symbol: str, price: ArrayLike) -> NDArray[np.float64]:
        """Account-currency value of a 1.0 price move for one lot, as the terminal converts it.

        The contract size in the profit currency: as is when that is the account currency;
        base currency = account currency: contract size / price.

        Raises:
            UnknownSymbolSpecError: no record for ``symbol``.
            UnconvertibleCurrencyError: a cross pair, which needs a rate no bar of it carries.
        """
        prices = np.asarray(price, dtype=np.float64)
        spec = self._sized(symbol)
        value = to_account_currency(
            spec.trade_contract_size, spec.currency_profit, spec, prices, self.account_currency
        )
        return np.broadcast_to(np.asarray(value, dtype=np.float64), prices.shape).copy()

    def _sized(self, symbol: str) -> SymbolSpec:
        """``symbol``'s record with this model's contract size, when it sets one."""
        spec = self.spec(symbol)
        if self.contract_size is None or self.contract_size == spec.trade_contract_size:
            return spec
        return dataclasses.replace(spec, trade_contract_size=self.contract_size)

    def commission_return(self, symbol: str, price: ArrayLike) -> NDArray[np.float64]:
        """Commission per side as a fraction of the position's notional."""
        return self.commission_per_lot / self.notional(symbol, price)

    def spread_return(
        self, spread_points: ArrayLike, point: float, price: ArrayLike
    ) -> NDArray[np.float64]:
        """The spread as a fraction of price: what buying one unit of notional costs."""
        spread = np.asarray(spread_points, dtype=np.float64) * point
        return spread / np.asarray(price, dtype=np.float64)

    def fill_return(
        self, symbol: str, range_pts: ArrayLike, point: float, price: ArrayLike
    ) -> NDArray[np.float64]:
        """Slippage plus commission as a fraction of price: what any fill of one unit costs."""
        price = np.asarray(price, dtype=np.float64)
        slip = self.slippage_points(range_pts) * point / price
        total: NDArray[np.float64] = slip + self.commission_return(symbol, price)
        return total


ZERO_COSTS = CostModel(commission_per_lot=0.0)
