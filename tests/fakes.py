"""Hand-written fakes for tests and demos: a model, a model source and a bar factory.

They record what they were given (STYLE: fakes that record calls over mocks), so a test can
ask, e.g., which bar times a model decided on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd

from data_contracts.symbols import SYMBOL_SPECS
from serving.registry.source import LoadedModel


class FakeDecision(NamedTuple):
    signal: int
    confidence: float
    probability: float
    features: np.ndarray


class FakeModel:
    """Momentum on the window's closes; remembers every window it saw."""

    feature_names = ("return_1", "return_window")

    def __init__(self, window: int = 8, threshold: float = 0.0) -> None:
        self.window, self.threshold = window, threshold
        self.seen: list[np.ndarray] = []

    def decide(self, window: np.ndarray) -> FakeDecision:
        self.seen.append(window.copy())
        close = window["close"]
        ret_1 = float(close[-1] / close[-2] - 1.0)
        ret_w = float(close[-1] / close[0] - 1.0)
        probability = float(1.0 / (1.0 + np.exp(-ret_w * 2_000.0)))
        edge = probability - 0.5
        signal = 0 if abs(edge) <= self.threshold else (1 if edge > 0 else -1)
        return FakeDecision(signal, min(1.0, 2 * abs(edge)), probability, np.array([ret_1, ret_w]))


class FakeModelSource:
    """A model source whose roles (and ``halted`` reason) a test sets directly; counts refreshes."""

    def __init__(self, models: dict[str, LoadedModel] | None = None) -> None:
        self.models = dict(models or {})
        self.registry_reachable = True
        self.halted: str | None = None
        self.unavailable: dict[str, str] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.refreshes = 0

    @classmethod
    def with_roles(cls, *roles: str, window: int = 8, name: str = "fake") -> FakeModelSource:
        return cls(
            {
                role: LoadedModel(name, str(i + 1), role, FakeModel(window))
                for i, role in enumerate(roles)
            }
        )

    def current(self) -> dict[str, LoadedModel]:
        return dict(self.models)

    def refresh(self) -> None:
        self.refreshes += 1


def make_bars(
    symbols: tuple[str, ...] = ("EURUSD", "USDJPY"),
    n: int = 200,
    *,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    seed: int = 3,
    step: timedelta = timedelta(hours=1),
) -> dict[str, pd.DataFrame]:
    """Random-walk bars in the MT5 rate layout (no weekend gaps), quick to build."""
    rng = np.random.default_rng(seed)
    base = {"USDJPY": 150.0, "USDCHF": 0.9, "GBPUSD": 1.27}
    out = {}
    for symbol in symbols:
        digits = SYMBOL_SPECS[symbol].digits if symbol in SYMBOL_SPECS else 5
        p0 = base.get(symbol, 1.1)
        close = p0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
        open_ = np.r_[p0, close[:-1]]
        wiggle = np.abs(rng.normal(0, 0.0005, n)) * p0
        out[symbol] = pd.DataFrame(
            {
                "time": pd.date_range(start, periods=n, freq=step, tz="UTC"),
                "open": open_.round(digits),
                "high": (np.maximum(open_, close) + wiggle).round(digits),
                "low": (np.minimum(open_, close) - wiggle).round(digits),
                "close": close.round(digits),
                "tick_volume": rng.integers(100, 2_000, n).astype("int64"),
                "spread": rng.integers(1, 15, n).astype("int64"),
                "real_volume": np.zeros(n, dtype="int64"),
            }
        )
    return out
