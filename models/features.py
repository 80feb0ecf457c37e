"""Feature code for training, re-exported from the strategy file the model ships with.

Training and serving must compute features with the same code; the strategy file is what a
logged model carries, so training imports from it instead of keeping a second copy.
"""

from __future__ import annotations

import pandas as pd

from models.strategies.lgbm_momentum import FEATURE_NAMES, WINDOW, build_features, frame_features

__all__ = ["FEATURE_NAMES", "WINDOW", "build_features", "features_frame"]


def features_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """Features of one symbol's bars as a DataFrame of FEATURE_NAMES, indexed like ``bars``."""
    return pd.DataFrame(frame_features(bars), columns=list(FEATURE_NAMES), index=bars.index)
