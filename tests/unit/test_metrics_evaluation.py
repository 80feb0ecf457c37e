"""Evaluation metrics (models.metrics) agree with their textbook definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics import (
    auc,
    classification_metrics,
    deflated_sharpe_ratio,
    hit_rate,
    max_drawdown,
    sharpe_ratio,
)


def test_perfect_ranking_has_auc_one_and_single_class_has_nan() -> None:
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert math.isnan(auc(np.array([1, 1]), np.array([0.2, 0.9])))


def test_hit_rate_counts_matching_sides() -> None:
    assert hit_rate(np.array([1, 0, 1, 0]), np.array([0.6, 0.4, 0.4, 0.6])) == 0.5


def test_sharpe_is_annualised_mean_over_std() -> None:
    r = np.array([0.01, -0.005, 0.02, 0.0])
    assert sharpe_ratio(r, 252) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert sharpe_ratio(np.zeros(10), 252) == 0.0


def test_max_drawdown_is_the_largest_fall_from_a_peak() -> None:
    assert max_drawdown(np.array([1.0, 1.2, 0.9, 1.3, 1.04])) == pytest.approx(0.25)
    assert max_drawdown(np.array([1.0, 1.1, 1.2])) == 0.0


def test_deflated_sharpe_shrinks_as_trials_grow() -> None:
    r = np.random.default_rng(3).normal(0.001, 0.01, 2000)
    one = deflated_sharpe_ratio(r, n_trials=1, trials_sharpe_std=0.05)
    many = deflated_sharpe_ratio(r, n_trials=100, trials_sharpe_std=0.05)
    assert 0.0 <= many < one <= 1.0


def test_classification_metrics_names() -> None:
    out = classification_metrics(np.array([0, 1, 0, 1]), np.array([0.3, 0.7, 0.4, 0.6]))
    assert set(out) == {"auc", "logloss", "hit_rate"}
