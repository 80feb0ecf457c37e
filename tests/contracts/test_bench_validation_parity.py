"""The benchmark's two sides agree on a small bar set (no timing here: see bench/validation.py).

Same comparison as the benchmark, on ~20k rows: the GE path and plain pandas report the same
findings (symbol, check → count and first rows), and GX's own SUMMARY counts and first rows
equal the pandas masks, so neither side of the benchmark can be made cheap by doing less.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "validation.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_validation", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("result_format", ["BOOLEAN_ONLY", "SUMMARY"])
def test_ge_and_pandas_report_the_same_findings(
    bench: ModuleType, tmp_path: Path, result_format: str
) -> None:
    bars = bench.make_bar_set(20_000, seed=3)

    ge, run = bench.ge_findings(bars, tmp_path / "docs", result_format)
    plain = bench.pandas_findings(bars)

    assert ge == plain
    injected = {
        "spike",
        "stale",
        "zero_volume",
        "non_negative:spread",
        "spread_outlier",
        "not_null:close",
        "high_ge_open_close",
        "misaligned_time",
        "gap",
    }
    assert {check for _, check in plain} == injected
    if result_format == "SUMMARY":
        assert bench.assert_native_parity(run, bars) > 0


def test_results_entry_replaces_only_its_own_name(bench: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('[{"name": "training", "figure": 1.0}, {"name": "validation", "figure": 9}]')

    bench.write_entry({"name": "validation", "figure": 2.0}, path)

    assert path.read_text().count('"validation"') == 1
    assert '"training"' in path.read_text() and '"figure": 2.0' in path.read_text()
