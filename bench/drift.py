"""Benchmark: our drift statistics against Evidently's DataDriftPreset on the same 100k × 30 data.

Both sides see the same reference and current frames (30 float features, 100,000 rows each, a
third of the columns shifted) in the same process:

- ours: ``models.drift.column_statistics`` — PSI, two-sample KS and Wasserstein-1 of every
  column, each column sorted once (what the drift flow and the breakers decide by);
- Evidently: ``Report([DataDriftPreset()]).run(reference_data=…, current_data=…)``, the report
  people read (its per-column drift tests and the dataset share), without rendering HTML.

Ours must match scipy (``ks_2samp`` and ``wasserstein_distance``) to 1e-9 on sampled columns or
the script fails, so it cannot be made cheap by computing less. KS p-values (the exact Kolmogorov
distribution, ``ks_pvalues``) are not in the timed figure: Evidently's preset does not compute
them on columns this large either (it uses a Wasserstein test past 1,000 rows).

Run: ``.venv/bin/python bench/drift.py [--rows N] [--columns K]``; writes the ``drift`` entry of
``bench/results.json`` (figure = ours, baseline_figure = Evidently, seconds).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import best_of, write_entry
from models.drift import column_statistics


def make_frames(rows: int, columns: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = [f"f{j:02d}" for j in range(columns)]
    reference = pd.DataFrame(rng.normal(size=(rows, columns)), columns=names)
    current = pd.DataFrame(rng.normal(size=(rows, columns)), columns=names)
    shifted = names[::3]
    current[shifted] = current[shifted] * 1.2 + 0.1
    return reference, current


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame) -> object:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Report([DataDriftPreset()]).run(reference_data=reference, current_data=current)


def check_exact(reference: np.ndarray, current: np.ndarray, ks: np.ndarray, w: np.ndarray) -> None:
    """Our KS and Wasserstein equal scipy's on a few columns (else the figure means nothing)."""
    from scipy.stats import ks_2samp, wasserstein_distance

    for j in (0, reference.shape[1] // 2, reference.shape[1] - 1):
        expected_ks = ks_2samp(reference[:, j], current[:, j], method="asymp").statistic
        expected_w = wasserstein_distance(reference[:, j], current[:, j])
        if abs(ks[j] - expected_ks) > 1e-9 or abs(w[j] - expected_w) > 1e-9:
            raise SystemExit(f"column {j}: ours differs from scipy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)

    reference, current = make_frames(args.rows, args.columns)
    ref, cur = reference.to_numpy(), current.to_numpy()
    ours, stats = best_of(args.repeats, lambda: column_statistics(ref, cur))
    check_exact(ref, cur, stats.ks, stats.wasserstein)
    evidently_drift(reference.head(2000), current.head(2000))  # imports and first-call set-up
    theirs, _ = best_of(max(1, args.repeats - 1), lambda: evidently_drift(reference, current))
    ratio = ours / theirs
    print(
        f"drift statistics on {args.rows} x {args.columns}: ours {ours:.3f} s, "
        f"Evidently DataDriftPreset {theirs:.3f} s, ratio {ratio:.3f}"
    )
    if not args.no_write:
        write_entry(
            {
                "name": "drift",
                "figure": ours,
                "unit": "seconds",
                "baseline": "evidently DataDriftPreset",
                "baseline_figure": theirs,
                "ratio": ratio,
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
