"""The development set: the rows cross-validation and the final fit may see.

The last ``holdout_bars`` bar times are the hold-out the worker replays; training rows must
have labels that end an embargo before it, so no label of the development set reads a price
of the hold-out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.cv import utc_values
from models.dataset import Dataset, build_dataset
from models.errors import NotEnoughBarsError
from models.strategy import Strategy
from models.train_config import TrainConfig


@dataclass(frozen=True)
class DevelopmentSet:
    """The rows CV and the final fit may use: labels end before ``cutoff``.

    ``cutoff`` is ``holdout_start`` minus the embargo; the hold-out is the worker's replay.
    """

    dataset: Dataset
    holdout_start: pd.Timestamp
    cutoff: pd.Timestamp


def development_set(
    strategy: Strategy,
    bars: Mapping[str, pd.DataFrame],
    config: TrainConfig,
    *,
    points: Mapping[str, float] | None = None,
) -> DevelopmentSet:
    """Build the strategy's panel and keep the rows whose labels end before the hold-out's
    embargo."""
    dataset = build_dataset(
        strategy, bars, horizon=config.horizon, points=points, costs=config.costs
    )
    holdout_start = holdout_start_time(bars, config.holdout_bars, window=strategy.window)
    cutoff = holdout_start - config.embargo
    dev = dataset.subset(np.flatnonzero((dataset.label_end_times < cutoff).to_numpy()))
    if config.shuffle_labels:
        rng = np.random.default_rng(config.seed)
        dev = dataclasses.replace(dev, y=rng.permutation(dev.y))
    return DevelopmentSet(dev, holdout_start, cutoff)


def holdout_start_time(
    bars: Mapping[str, pd.DataFrame], holdout_bars: int, *, window: int
) -> pd.Timestamp:
    """Open time of the first of the last ``holdout_bars`` bar times across all symbols.

    Raises:
        NotEnoughBarsError: the bars before the hold-out are no more than one ``window``.
    """
    times = np.unique(np.concatenate([utc_values(frame["time"]) for frame in bars.values()]))
    if times.size <= holdout_bars + window:
        raise NotEnoughBarsError(
            f"{times.size} bar times leave nothing to train on before the hold-out"
        )
    return pd.Timestamp(times[-holdout_bars]).tz_localize("UTC")
