"""Features for training, computed by the strategy's own code (the code its model ships with).

Training and serving must compute features with the same code; a strategy's file is what a
logged model carries, so training asks the strategy instead of keeping a second copy.
"""

from __future__ import annotations

import pandas as pd

from models.strategy import Strategy


def features_frame(strategy: Strategy, bars: pd.DataFrame) -> pd.DataFrame:
    """Features of one symbol's bars as a DataFrame of the strategy's feature names, indexed
    like ``bars``.

    Raises:
        ValueError: the strategy returned another shape than one row per bar and one column
            per feature name (a strategy bug that would misalign every label).
    """
    values = strategy.features(bars)
    expected = (len(bars), len(strategy.feature_names))
    if values.shape != expected:
        raise ValueError(
            f"{strategy.name} features have shape {values.shape}, expected {expected} "
            "(one row per bar, one column per feature name)"
        )
    return pd.DataFrame(values, columns=list(strategy.feature_names), index=bars.index)
