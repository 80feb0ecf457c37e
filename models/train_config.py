"""What a training run is configured with, and the configurations a sweep tries.

Kept apart from ``models.training`` so the sweep and leakage modules can build on it without
importing the training pipeline that uses them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from data_contracts.schema import TIMEFRAME_SECONDS
from models.costs import CostModel
from models.errors import SweepError
from models.gates import GateThresholds

# What a sweep may vary besides LightGBM's own parameters.
SWEEPABLE_FIELDS: tuple[str, ...] = ("num_boost_round",)


def default_lgbm_params() -> dict[str, Any]:
    """Small, regularised trees: the signal is weak and the panel is tens of thousands of rows."""
    return {
        "objective": "binary",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 400,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "num_threads": 1,
        "seed": 7,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


@dataclass(frozen=True)
class TrainConfig:
    """What a training run needs besides the bars; every field is logged as a parameter.

    Attributes:
        horizon: label horizon in bars.
        n_splits, embargo_bars: walk-forward folds and the embargo between train and test.
        holdout_bars: the last bars kept out of CV and of the final fit (the worker replays
            them); the final fit's labels end before ``holdout_start - embargo``.
        threshold: probability distance from 0.5 needed to take a position.
        shuffle_labels: permute training labels (a control that must fail the gate).
        n_trials: configurations tried, this one included (a sweep's size); the deflated
            Sharpe discounts the OOF Sharpe for them.
        leak_canary: after training, walk forward once more with a deliberately leaked
            feature and report whether the evaluation notices it (that model is discarded).
        params: LightGBM parameters; costs: the backtest's cost model; gate: promotion gate.
    """

    horizon: int = 6
    n_splits: int = 5
    embargo_bars: int = 24
    holdout_bars: int = 1500
    timeframe: str = "H1"
    num_boost_round: int = 150
    threshold: float = 0.02
    seed: int = 7
    shuffle_labels: bool = False
    n_trials: int = 1
    leak_canary: bool = False
    params: Mapping[str, Any] = field(default_factory=default_lgbm_params)
    costs: CostModel = field(default_factory=CostModel)
    gate: GateThresholds = field(default_factory=GateThresholds)

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise ValueError(f"n_trials counts this run too, so it must be >= 1: {self.n_trials}")

    @property
    def embargo(self) -> pd.Timedelta:
        return pd.Timedelta(seconds=self.embargo_bars * TIMEFRAME_SECONDS[self.timeframe])

    def flat_params(self) -> dict[str, Any]:
        """Flat parameter dict for the tracker (lgbm params prefixed with ``lgbm_``)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("params", "costs", "gate")}
        out.update({f"lgbm_{k}": v for k, v in self.params.items()})
        out.update({f"cost_{k}": v for k, v in self.costs.cost_params().items()})
        out.update({f"gate_{k}": v for k, v in asdict(self.gate).items()})
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainConfig:
        """This config with LightGBM parameters (or ``num_boost_round``) replaced.

        Raises:
            SweepError: a value is not a plain scalar (it could not be logged or compared).
        """
        for key, value in overrides.items():
            if not isinstance(value, str | int | float | bool):
                raise SweepError(f"override {key}={value!r} must be a number, string or bool")
        fields = {k: v for k, v in overrides.items() if k in SWEEPABLE_FIELDS}
        params = {k: v for k, v in overrides.items() if k not in SWEEPABLE_FIELDS}
        return dataclasses.replace(self, params={**self.params, **params}, **fields)

    def with_threads(self, threads: int) -> TrainConfig:
        """This config with LightGBM limited to ``threads`` threads (one per worker core)."""
        return dataclasses.replace(self, params={**self.params, "num_threads": threads})


def normalize_sweep(sweep: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The sweep's override sets; no sweep is one configuration without overrides."""
    return [dict(overrides) for overrides in sweep] if sweep else [{}]


def sweep_configs(
    base: TrainConfig, sweep: Sequence[Mapping[str, Any]] | None
) -> list[TrainConfig]:
    """One config per override set, each counting every configuration of the sweep as a trial.

    ``n_trials`` becomes ``base.n_trials - 1 + len(sweep)``: trials made before this run (if the
    caller says so) plus every configuration tried here, so the deflated Sharpe of the chosen
    one pays for the choice.

    Raises:
        SweepError: two override sets give the same configuration (a duplicate trial would
            only make the choice look harder than it was).
    """
    overrides = normalize_sweep(sweep)
    n_trials = base.n_trials - 1 + len(overrides)
    configs = [
        dataclasses.replace(base.with_overrides(item), n_trials=n_trials) for item in overrides
    ]
    seen: dict[str, int] = {}
    for index, config in enumerate(configs):
        key = json.dumps(config.flat_params(), sort_keys=True, default=str)
        if key in seen:
            raise SweepError(f"sweep entries {seen[key]} and {index} are the same configuration")
        seen[key] = index
    return configs
