"""Benchmark: the great-expectations validation path against plain vectorized pandas.

Both sides judge the same 1,000,000 bars (several symbols, with injected defects) in the
same process and must report the same findings — per symbol and check, the count and the
first offending rows — or the script fails, so neither side can be made cheap by doing less.

- GE path: ``run_bar_suites`` as validation runs it (flag columns computed per symbol, one
  batch, every expectation evaluated by GX), with ``BOOLEAN_ONLY`` results; per-symbol counts
  and rows of failed expectations read from the masks. Data Docs rendering is left out of
  the timed run (it is output, not checking) and timed separately for information.
- pandas path: per symbol, the same flag functions plus the simple checks (nulls, signs,
  dtypes, columns) as numpy masks, counts and first rows.
- Parity with GX's own numbers: a ``SUMMARY`` run must report, per expectation, the same
  total count and the same first rows (across the batch) as the pandas masks.

Run: ``.venv/bin/python bench/validation.py [--rows N]``; writes the ``validation`` entry of
``bench/results.json`` (figure = GE seconds, baseline_figure = pandas seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import best_of, write_entry
from data_contracts.config import ContractConfig
from data_contracts.flags import add_check_flags, check_masks
from data_contracts.schema import RATE_COLUMNS
from data_contracts.suites import COLUMN_TYPES, SuiteRun, run_bar_suites
from data_contracts.synthetic import is_fx_weekend

SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD")
TIMEFRAME = "H1"
MAX_ROWS = 5
Findings = dict[tuple[str, str], tuple[int, tuple[int, ...]]]


def generate_bars(symbol: str, n: int, seed: int) -> pd.DataFrame:
    """``n`` clean H1 bars on the FX week (Sun 22:00 → Fri 22:00 UTC), fully vectorized."""
    rng = np.random.default_rng([seed, *symbol.encode()])
    start = pd.Timestamp("2000-01-03", tz="UTC")
    grid = pd.date_range(start, periods=n * 7 // 5 + 400, freq="h")
    times = grid[~is_fx_weekend(grid)][:n].as_unit("ns")
    base = 100.0 if symbol.endswith("JPY") else 1.2
    close = base * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[base], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.0005 * base, (2, n)))
    return pd.DataFrame(
        {
            "time": times,
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "tick_volume": rng.integers(50, 5000, n).astype("int64"),
            "spread": rng.integers(5, 25, n).astype("int64"),
            "real_volume": np.zeros(n, dtype="int64"),
        }
    )


def inject_defects(bars: pd.DataFrame, seed: int, every: int = 20_000) -> pd.DataFrame:
    """A copy of ``bars`` with one defect of each kind per ``every`` bars, at random rows."""
    rng = np.random.default_rng(seed)
    frame = bars.copy()
    n = len(frame)
    slots = rng.permutation(np.arange(10, n - 10, 10))[: max(1, n // every) * 9]
    kinds = np.array_split(slots, 9)
    close, high, low = (frame[c].to_numpy(copy=True) for c in ("close", "high", "low"))
    close[kinds[0]] *= 1.05  # spike
    high[kinds[0]] = np.maximum(high[kinds[0]], close[kinds[0]])
    for i in kinds[1]:  # stale run of three zero-tick bars
        close[i : i + 3] = close[i - 1]
        high[i : i + 3] = np.maximum(high[i : i + 3], close[i - 1])
        low[i : i + 3] = np.minimum(low[i : i + 3], close[i - 1])
    frame["tick_volume"] = frame["tick_volume"].to_numpy(copy=True)
    for i in kinds[1]:
        frame.loc[i : i + 2, "tick_volume"] = 0
    frame.loc[kinds[2], "tick_volume"] = 0  # zero volume on a moving bar
    frame.loc[kinds[3], "spread"] = -1
    frame.loc[kinds[4], "spread"] = 5_000
    close[kinds[5]] = np.nan
    high[kinds[6]] = np.fmax(frame["open"].to_numpy()[kinds[6]], close[kinds[6]]) - 1e-4
    frame["close"], frame["high"], frame["low"] = close, high, low
    frame.loc[kinds[7], "time"] += pd.Timedelta(minutes=30)  # misaligned
    frame = frame.drop(index=kinds[8])  # gaps
    return frame.reset_index(drop=True)


def make_bar_set(rows: int, seed: int = 1) -> dict[str, pd.DataFrame]:
    """``rows`` bars in total over ``SYMBOLS``, defects injected."""
    per_symbol = rows // len(SYMBOLS)
    return {
        s: inject_defects(generate_bars(s, per_symbol, seed), seed + i)
        for i, s in enumerate(SYMBOLS)
    }


def ge_findings(
    bars: Mapping[str, pd.DataFrame], site: Path, result_format: str, data_docs: bool = False
) -> tuple[Findings, SuiteRun]:
    """Findings of the GE path: failed outcomes as (symbol, check) → (count, first rows)."""
    run = run_bar_suites(
        bars,
        site_dir=site,
        run_name="bench",
        max_rows=MAX_ROWS,
        config=ContractConfig(),
        timeframe=TIMEFRAME,
        result_format=result_format,
        data_docs=data_docs,
    )
    found = {(o.symbol, o.check): (o.count, o.rows) for o in run.outcomes if not o.success}
    return found, run


def pandas_findings(bars: Mapping[str, pd.DataFrame]) -> Findings:
    """The same checks in plain pandas/numpy: masks → counts and first rows."""
    found: Findings = {}
    config = ContractConfig()
    for symbol, raw in bars.items():
        if set(raw.columns) != set(RATE_COLUMNS):
            found[(symbol, "schema")] = (len(set(raw.columns) ^ set(RATE_COLUMNS)), ())
        for column, kind in COLUMN_TYPES.items():
            ok = (
                isinstance(raw[column].dtype, pd.DatetimeTZDtype)
                if kind == "Timestamp"
                else str(raw[column].dtype) == kind
            )
            if not ok:
                found[(symbol, f"dtype:{column}")] = (1, ())
        frame = add_check_flags(raw, symbol=symbol, timeframe=TIMEFRAME, config=config)
        for check, mask in check_masks(frame).items():
            hits = np.flatnonzero(mask)
            if len(hits):
                found[(symbol, check)] = (len(hits), tuple(int(i) for i in hits[:MAX_ROWS]))
    return found


def assert_native_parity(run: SuiteRun, bars: Mapping[str, pd.DataFrame]) -> int:
    """GX's own SUMMARY counts and first rows per batch equal the pandas masks'. Returns checks compared."""
    compared = 0
    for batch in run.batches:
        masks = {
            s: check_masks(add_check_flags(bars[s], symbol=s, timeframe=TIMEFRAME))
            for s in batch.symbols
        }
        for verdict in batch.verdicts:
            if verdict.check.startswith(("schema", "dtype:")):
                continue
            stacked = np.concatenate([masks[s][verdict.check] for s in batch.symbols])
            hits = np.flatnonzero(stacked)
            expected = (len(hits), tuple(int(i) for i in hits[:MAX_ROWS]))
            got = (verdict.count, verdict.rows)
            assert got == expected, f"{batch.name} {verdict.check}: GX {got} != pandas {expected}"
            assert verdict.success == (len(hits) == 0), verdict.check
            compared += 1
    return compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)

    bars = make_bar_set(args.rows)
    total = sum(len(b) for b in bars.values())
    with tempfile.TemporaryDirectory(prefix="tate-bench-") as tmp:
        site = Path(tmp) / "data_docs"  # benchmark scratch output, thrown away
        ge_findings({s: b.iloc[:500] for s, b in bars.items()}, site, "BOOLEAN_ONLY")  # warm-up
        ge_seconds, (ge_found, _) = best_of(
            args.repeats, lambda: ge_findings(bars, site, "BOOLEAN_ONLY")
        )
        pd_seconds, pd_found = best_of(args.repeats, lambda: pandas_findings(bars))
        assert ge_found == pd_found, _diff(ge_found, pd_found)
        summary_seconds, (summary_found, summary_run) = best_of(
            1, lambda: ge_findings(bars, site, "SUMMARY")
        )
        assert summary_found == pd_found, _diff(summary_found, pd_found)
        compared = assert_native_parity(summary_run, bars)
        docs_seconds, _ = best_of(
            1, lambda: ge_findings(bars, site, "BOOLEAN_ONLY", data_docs=True)
        )

    ratio = ge_seconds / pd_seconds
    print(
        f"bars: {total:,} over {len(bars)} symbols; findings: {len(pd_found)} (symbol, check) pairs"
    )
    print(f"GE (BOOLEAN_ONLY):     {ge_seconds:.3f} s  {total / ge_seconds:>12,.0f} rows/s")
    print(f"pandas:                {pd_seconds:.3f} s  {total / pd_seconds:>12,.0f} rows/s")
    print(f"ratio GE / pandas:     {ratio:.2f}x (target ≤ 5x)")
    print(
        f"GE (SUMMARY):          {summary_seconds:.3f} s  (GX-native counts/rows equal pandas on {compared} checks)"
    )
    print(f"GE + Data Docs:        {docs_seconds:.3f} s")
    if not args.no_write:
        write_entry(
            {
                "name": "validation",
                "figure": ge_seconds,
                "unit": "seconds",
                "baseline": "pandas",
                "baseline_figure": pd_seconds,
                "ratio": ratio,
            }
        )
    return 0


def _diff(left: Findings, right: Findings) -> str:
    keys = sorted(set(left) | set(right))
    return "\n".join(
        f"{k}: GE {left.get(k)} != pandas {right.get(k)}"
        for k in keys
        if left.get(k) != right.get(k)
    )


if __name__ == "__main__":
    raise SystemExit(main())
