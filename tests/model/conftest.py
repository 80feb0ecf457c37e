"""Shared, trained-once fixtures for the behavioural model tests (training takes ~2 s)."""

from __future__ import annotations

import dataclasses

import pytest

from data_contracts.synthetic import SyntheticMarket, generate_market
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, TrainingOutcome, run_training


@pytest.fixture(scope="session")
def market() -> SyntheticMarket:
    return generate_market()


@pytest.fixture(scope="session")
def outcome(market: SyntheticMarket) -> TrainingOutcome:
    return run_training(STRATEGY, market.bars, TrainConfig(), points=market.points)


@pytest.fixture(scope="session")
def shuffled_outcome(market: SyntheticMarket) -> TrainingOutcome:
    config = dataclasses.replace(TrainConfig(), shuffle_labels=True)
    return run_training(STRATEGY, market.bars, config, points=market.points)
