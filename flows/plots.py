"""Figures a training run carries in MLflow: what a person checks before trusting a version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no screen on servers; figures go to files only
    from matplotlib import pyplot

    return pyplot


def equity_figure(curve: pd.DataFrame) -> Any:
    """Out-of-fold equity with and without costs: the gap between the lines is what costs take."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 4))
    for column in [c for c in curve.columns if c != "time"]:
        axis.plot(curve["time"], curve[column], label=column)
    axis.set_title("out-of-fold equity (cost-aware backtest)")
    axis.legend()
    figure.tight_layout()
    plt.close(figure)
    return figure


def fold_sharpe_figure(fold_metrics: Sequence[Mapping[str, float]]) -> Any:
    """Sharpe per walk-forward fold, gross and net: one lucky fold should not carry the average."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.5))
    folds = range(len(fold_metrics))
    width = 0.4
    for offset, key in ((-width / 2, "sharpe_gross"), (width / 2, "sharpe_net")):
        axis.bar(
            [f + offset for f in folds], [m.get(key, 0.0) for m in fold_metrics], width, label=key
        )
    axis.axhline(0.0, color="black", linewidth=0.8)
    axis.set_xlabel("fold")
    axis.set_title("Sharpe per fold (annualised)")
    axis.legend()
    figure.tight_layout()
    plt.close(figure)
    return figure


def importance_figure(importance: pd.Series) -> Any:
    """Gain importance per feature: a leaked feature shows up as one bar towering over the rest."""
    plt = _pyplot()
    ordered = importance.sort_values()
    figure, axis = plt.subplots(figsize=(7, 0.35 * len(ordered) + 1))
    axis.barh(ordered.index, ordered.to_numpy())
    axis.set_title("feature importance (gain)")
    figure.tight_layout()
    plt.close(figure)
    return figure
