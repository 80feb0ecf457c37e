"""Forward labels read the right future bar and say where they end."""

from __future__ import annotations

import numpy as np
import pytest

from models.labels import forward_log_returns, forward_return_labels


def test_forward_label_is_one_when_close_rises_over_the_horizon() -> None:
    close = np.array([1.0, 1.1, 0.9, 1.2, 1.0, 1.3])
    y, end = forward_return_labels(close, 2)
    np.testing.assert_array_equal(y[:4], [0.0, 1.0, 1.0, 1.0])
    assert np.isnan(y[4:]).all()
    np.testing.assert_array_equal(end, [2, 3, 4, 5, 5, 5])


def test_flat_price_is_labelled_down() -> None:
    y, _ = forward_return_labels(np.array([1.0, 1.0, 1.0]), 1)
    np.testing.assert_array_equal(y[:2], [0.0, 0.0])


def test_forward_log_return_matches_the_definition() -> None:
    close = np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 50)))
    fwd = forward_log_returns(close, 6)
    np.testing.assert_allclose(fwd[:-6], np.log(close[6:] / close[:-6]))
    assert np.isnan(fwd[-6:]).all()


def test_labels_reject_a_zero_horizon() -> None:
    with pytest.raises(ValueError, match="horizon"):
        forward_return_labels(np.ones(5), 0)


def test_series_shorter_than_the_horizon_has_no_labels() -> None:
    y, end = forward_return_labels(np.array([1.0, 2.0]), 5)
    assert np.isnan(y).all()
    np.testing.assert_array_equal(end, [1, 1])
