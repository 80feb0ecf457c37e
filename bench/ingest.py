"""Benchmark: memory added by importing a 1,000,000-line MT5 export into the bar store.

Issue 12 measured 29 × the file's size for the old importer (the whole text as Python strings,
then every field as one). The target is about 4 ×. The figure is the peak resident memory of
a fresh process during ``import_export`` minus its resident memory just before, after the
libraries were imported and a one-line file imported once (so parquet's writer is loaded):
what an import adds, not what Python and pandas cost to start.

The export is generated in a temporary folder at run time (realistic H1 FX bars on the FX week,
``NY+7`` server time as most brokers run, ``\\r\\n`` line ends, 5-digit prices), so the
figure does not depend on a file kept in the repository.

Run: ``.venv/bin/python bench/ingest.py [--rows N]``; writes the ``ingest_peak_memory`` entry
of ``bench/results.json`` (figure = bytes, no baseline) and prints the multiple of file size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import write_entry  # noqa: E402
from data_contracts.mt5_export_format import HEADER  # noqa: E402
from data_contracts.server_time import utc_to_server  # noqa: E402

SERVER_TIME = "NY+7"

# Runs in a fresh interpreter: RSS before and the peak during the import, in bytes.
MEASURE = """
import json, resource, sys
from pathlib import Path
from data_contracts.mt5_export import import_export
from data_contracts.store import BarStore

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)

path, warm, root = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
import_export(warm, BarStore(root / "warm"), "WARM", timeframe="H1", server_time="NY+7")
before = status("VmRSS")
try:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    reset = True
except OSError:
    reset = False
summary = import_export(path, BarStore(root / "data"), "EURUSD", timeframe="H1", server_time="NY+7")
peak = status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "peak": peak, "added": summary.added, "reset": reset}))
"""


def write_export(path: Path, n: int, seed: int = 7) -> Path:
    """``n`` H1 bars as an MT5 export, vectorized (no per-row Python)."""
    rng = np.random.default_rng(seed)
    grid = pd.date_range("1990-01-01", periods=n * 7 // 5 + 400, freq="h", tz="UTC")
    dow, hour = grid.dayofweek, grid.hour
    weekend = ((dow == 4) & (hour >= 22)) | (dow == 5) | ((dow == 6) & (hour < 22))
    times = pd.Series(grid[~np.asarray(weekend)][:n])
    # the hour New York repeats in autumn would be ambiguous in NY+7; leave it out, as brokers'
    # servers never show it twice (their clock jumps back with New York's)
    wall = utc_to_server(times, SERVER_TIME)
    keep = ~wall.duplicated(keep=False).to_numpy()
    wall = wall[keep].reset_index(drop=True)
    m = len(wall)
    close = np.round(1.2 * np.exp(np.cumsum(rng.normal(0.0, 0.001, m))), 5)
    open_ = np.concatenate([[1.2], close[:-1]])
    wick = np.round(np.abs(rng.normal(0.0, 0.0006, (2, m))), 5)
    frame = pd.DataFrame(
        {
            "<DATE>": wall.dt.strftime("%Y.%m.%d"),
            "<TIME>": wall.dt.strftime("%H:%M:%S"),
            "<OPEN>": open_,
            "<HIGH>": np.maximum(open_, close) + wick[0],
            "<LOW>": np.minimum(open_, close) - wick[1],
            "<CLOSE>": close,
            "<TICKVOL>": rng.integers(50, 5000, m),
            "<VOL>": 0,
            "<SPREAD>": rng.integers(0, 30, m),
        }
    )[list(HEADER)]
    frame.to_csv(path, sep="\t", index=False, lineterminator="\r\n", float_format="%.5f")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tate-bench-ingest-") as folder:
        tmp = Path(folder)
        export = write_export(tmp / "EURUSD_H1.csv", args.rows)
        warm = write_export(tmp / "WARM_H1.csv", 1)
        size = export.stat().st_size
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(export), str(warm), str(tmp / "home")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
    added = measured["peak"] - measured["before"]
    print(
        f"ingest of {measured['added']:,} bars from a {size / 1e6:.1f} MB export: peak RSS "
        f"+{added / 1e6:.1f} MB = {added / size:.2f} × the file's size"
        + ("" if measured["reset"] else " (lifetime peak: VmHWM could not be reset)")
    )
    write_entry(
        {
            "name": "ingest_peak_memory",
            "figure": added,
            "unit": "bytes",
            "baseline": None,
            "baseline_figure": None,
            "ratio": None,
            "file_bytes": size,
            "multiple_of_file_size": round(added / size, 2),
        }
    )


if __name__ == "__main__":
    main()
