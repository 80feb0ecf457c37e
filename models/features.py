"""Feature code for training, re-exported from the strategy file the model ships with.

Training and serving must compute features with the same code; the strategy file is what a
logged model carries, so training imports from it instead of keeping a second copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.strategies.lgbm_momentum import FEATURE_NAMES, WINDOW, build_features

__all__ = ["FEATURE_NAMES", "WINDOW", "build_features", "features_frame"]


def features_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """Features of one symbol's bars as a DataFrame of FEATURE_NAMES, indexed like ``bars``."""
    values = build_features(
        bars["open"].to_numpy(np.float64),
        bars["high"].to_numpy(np.float64),
        bars["low"].to_numpy(np.float64),
        bars["close"].to_numpy(np.float64),
        bars["tick_volume"].to_numpy(np.float64),
        bars["spread"].to_numpy(np.float64),
    )
    return pd.DataFrame(values, columns=list(FEATURE_NAMES), index=bars.index)
