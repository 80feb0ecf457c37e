"""Two readings of the same bar times, compared value by value.

The store refuses a bar time read twice with different values (``ConflictingBarsError`` in
``data_contracts.store``): these functions say which rows differ, the store says why that is
refused. Every price and count column is compared; a missing value equals a missing value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_contracts.schema import INT_COLUMNS, PRICE_COLUMNS

VALUE_COLUMNS = (*PRICE_COLUMNS, *INT_COLUMNS)


def differs_from_previous(frame: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame``: whether a value differs from the row before it (first row: no)."""
    differs = np.zeros(len(frame), dtype=bool)
    for column in VALUE_COLUMNS:
        values = frame[column].to_numpy()
        differs[1:] |= (values[1:] != values[:-1]) & ~(pd.isna(values[1:]) & pd.isna(values[:-1]))
    return differs


def differs_from_stored(frame: pd.DataFrame, stored: pd.DataFrame, at: np.ndarray) -> np.ndarray:
    """Per row of ``frame``: whether a value differs from row ``at`` of ``stored``.

    ``at`` is ``get_indexer``'s answer: -1 where the time is not stored (never differs).
    """
    present = at >= 0
    differs = np.zeros(len(frame), dtype=bool)
    for column in VALUE_COLUMNS:
        mine = frame[column].to_numpy()[present]
        theirs = stored[column].to_numpy()[at[present]]
        differs[present] |= (mine != theirs) & ~(pd.isna(mine) & pd.isna(theirs))
    return differs
