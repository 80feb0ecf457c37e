"""One cost model for the backtest and SimTerminal, so a backtest and a replay agree.

Bars are bid prices: buying pays the ask (bid + spread × point), selling gets the bid, so a
round trip costs one spread. In return units the backtest charges half the spread per unit of
position traded, plus commission per lot and side, plus optional slippage in points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JPY_POINT = 1e-3
DEFAULT_POINT = 1e-5
KNOWN_POINTS: dict[str, float] = {"XAUUSD": 0.01, "XAGUSD": 0.001}


def point_for(symbol: str) -> float:
    """Tick size of an FX symbol when no terminal spec is at hand (JPY quotes: 0.001)."""
    if symbol in KNOWN_POINTS:
        return KNOWN_POINTS[symbol]
    return JPY_POINT if symbol.upper().endswith("JPY") else DEFAULT_POINT


@dataclass(frozen=True)
class CostModel:
    """Trading frictions, shared by ``models.backtest`` and ``serving.SimTerminal``.

    Attributes:
        commission_per_lot: account-currency commission per lot and per side.
        contract_size: units of the base currency in one lot.
        slippage_points: adverse slippage per fill, in points.
        account_currency: currency of the account (commissions and PnL).
    """

    commission_per_lot: float = 3.5
    contract_size: float = 100_000.0
    slippage_points: float = 0.0
    account_currency: str = "USD"

    def __post_init__(self) -> None:
        if self.commission_per_lot < 0 or self.slippage_points < 0 or self.contract_size <= 0:
            raise ValueError(f"costs must be non-negative and contract_size positive: {self}")

    def commission(self, volume_lots: float) -> float:
        """Commission in account currency for one fill of ``volume_lots``."""
        return abs(volume_lots) * self.commission_per_lot

    def notional(self, symbol: str, price: np.ndarray | float) -> np.ndarray | float:
        """Account-currency value of one lot: base-currency accounts need no price."""
        if symbol[:3] == self.account_currency:
            return self.contract_size
        return self.contract_size * np.asarray(price, dtype=np.float64)

    def commission_return(self, symbol: str, price: np.ndarray | float) -> np.ndarray | float:
        """Commission per side as a fraction of the position's notional."""
        return self.commission_per_lot / self.notional(symbol, price)

    def half_spread_return(
        self, spread_points: np.ndarray, point: float, price: np.ndarray
    ) -> np.ndarray:
        """Half the bid-ask spread plus slippage, as a fraction of price (cost per unit traded)."""
        spread = np.asarray(spread_points, dtype=np.float64) * point
        return (0.5 * spread + self.slippage_points * point) / np.asarray(price, dtype=np.float64)

    def cost_per_unit_traded(
        self, symbol: str, spread_points: np.ndarray, point: float, price: np.ndarray
    ) -> np.ndarray:
        """Total cost, in return units, of changing the position by 1 (100 % of equity)."""
        return self.half_spread_return(spread_points, point, price) + np.asarray(
            self.commission_return(symbol, price)
        )


ZERO_COSTS = CostModel(commission_per_lot=0.0)
