"""The pyfunc contract every strategy shares: a window of MT5 rates in, a decision out.

The signature's ``time`` is int64 epoch seconds (what ``copy_rates_*`` returns; MLflow's schema
check rejects tz-aware datetimes). Bundled into each logged strategy file by
``models.packaging``, so it imports only third-party packages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema, TensorSpec


def input_example(n: int) -> pd.DataFrame:
    """A small valid input frame (flat prices), for signatures and smoke tests."""
    times = 1_641_168_000 + 3600 * np.arange(n, dtype=np.int64)
    price = np.full(n, 1.1)
    return pd.DataFrame(
        {
            "time": times,
            "open": price,
            "high": price + 0.0005,
            "low": price - 0.0005,
            "close": price,
            "tick_volume": np.full(n, 1000, dtype=np.int64),
            "spread": np.full(n, 12, dtype=np.int64),
            "real_volume": np.zeros(n, dtype=np.int64),
        }
    )


_INPUTS: list[ColSpec | TensorSpec] = [
    ColSpec("long", "time"),
    *(ColSpec("double", name) for name in ("open", "high", "low", "close")),
    *(ColSpec("long", name) for name in ("tick_volume", "spread", "real_volume")),
]
_OUTPUTS: list[ColSpec | TensorSpec] = [
    ColSpec("double", "probability"),
    ColSpec("long", "signal"),
    ColSpec("double", "confidence"),
]
SIGNATURE = ModelSignature(inputs=Schema(_INPUTS), outputs=Schema(_OUTPUTS))
