"""Forward-return labels, with the index where each label's information ends (for purging)."""

from __future__ import annotations

import numpy as np


def forward_log_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """log(close[t + horizon] / close[t]); NaN for the last ``horizon`` rows."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.size, np.nan)
    if close.size > horizon:
        out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return out


def forward_return_labels(close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 1.0 when price rises over the next ``horizon`` bars, 0.0 when not, NaN at the tail.

    Returns:
        ``(y, label_end_idx)``: ``label_end_idx[t] = t + horizon`` is the bar whose close the
        label reads; CV purges training rows whose label ends inside or after a test fold.
        It is clipped to the last row for the NaN tail.
    """
    fwd = forward_log_returns(close, horizon)
    y = np.where(np.isnan(fwd), np.nan, (fwd > 0).astype(np.float64))
    end = np.minimum(np.arange(fwd.size) + horizon, max(fwd.size - 1, 0))
    return y, end.astype(np.int64)
