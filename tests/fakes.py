"""Hand-written fakes for tests and demos: a model and a model source (bars: tests.factories).

They record what they were given (STYLE: fakes that record calls over mocks), so a test can
ask, e.g., which bar times a model decided on.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

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
