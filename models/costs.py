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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from data_contracts.symbols import lookup_spec, to_account_currency

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
        contract_size: units of the base currency in one lot.
        slippage_fixed_points: adverse slippage of every fill, in points.
        slippage_range_fraction: extra adverse slippage per fill as a fraction of the last
            closed bar's high-low range in points (the volatility-proportional part).
        latency_bars: bars between a decision's bar and its fill: 0 fills at the next bar's
            open, 1 at the open after that.
        account_currency: currency of the account (commissions and PnL).
    """

    commission_per_lot: float = 3.5
    contract_size: float = 100_000.0
    slippage_fixed_points: float = 0.0
    slippage_range_fraction: float = 0.0
    latency_bars: int = 0
    account_currency: str = "USD"

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
        if not (math.isfinite(self.contract_size) and self.contract_size > 0):
            problems.append(f"contract_size must be positive, got {self.contract_size!r}")
        latency = self.latency_bars
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            problems.append(f"latency_bars must be a whole number of bars >= 0, got {latency!r}")
        if len(self.account_currency) != 3:
            problems.append(f"account_currency must be a 3-letter code: {self.account_currency!r}")
        if problems:
            raise ValueError("invalid cost model: " + "; ".join(problems))

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
        """Account-currency value of one lot (``contract_size`` base units): base-currency
        accounts need no price.

        Raises:
            UnknownSymbolSpecError: no record for ``symbol``.
            UnconvertibleCurrencyError: a cross pair (see ``to_account_currency``).
        """
        return self._in_account_currency(symbol, price, base=True)

    def value_per_price_unit(self, symbol: str, price: ArrayLike) -> NDArray[np.float64]:
        """Account-currency value of a 1.0 price move for one lot, as the terminal converts it.

        Quote currency = account currency: the contract size. Base currency = account currency:
        contract size / price (the profit, in the quote currency, converted at ``price``).

        Raises:
            UnknownSymbolSpecError: no record for ``symbol``.
            UnconvertibleCurrencyError: a cross pair, which needs a rate no bar of it carries.
        """
        return self._in_account_currency(symbol, price, base=False)

    def _in_account_currency(
        self, symbol: str, price: ArrayLike, *, base: bool
    ) -> NDArray[np.float64]:
        """``contract_size`` units of the symbol's base (or profit) currency, per price."""
        prices = np.asarray(price, dtype=np.float64)
        spec = lookup_spec(symbol)
        currency = spec.currency_base if base else spec.currency_profit
        value = to_account_currency(
            self.contract_size, currency, spec, prices, self.account_currency
        )
        return np.broadcast_to(np.asarray(value, dtype=np.float64), prices.shape).copy()

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
