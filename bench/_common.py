"""What the benchmark scripts share: timing the best of a few runs, percentiles of timings,
this process's memory, and results.json.

``make bench`` runs ``bench/[!_]*.py``, so this module is imported, never run.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results.json"


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def write_entry(entry: dict[str, Any], path: Path = RESULTS) -> None:
    """Replace the entry with the same name in ``path`` (a JSON list), keeping the others."""
    entries = json.loads(path.read_text()) if path.is_file() else []
    entries = [e for e in entries if e.get("name") != entry["name"]] + [entry]
    path.write_text(json.dumps(sorted(entries, key=lambda e: e["name"]), indent=2) + "\n")


def percentiles(ns: np.ndarray) -> tuple[float, float]:
    """p50 and p99 of nanosecond timings, in seconds."""
    p50, p99 = np.percentile(ns, [50, 99])
    return float(p50) * 1e-9, float(p99) * 1e-9


def peak_rss() -> int:
    """This process's peak resident set size, in bytes.

    ``VmHWM`` from ``/proc/self/status`` where there is one: ``ru_maxrss`` of a child started
    by ``subprocess`` also counts the parent's high-water mark (CPython spawns with vfork, and
    Linux keeps the old address space's peak across exec), so here it would report the
    parent's training and logging, not the worker. ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_now() -> int | None:
    """Resident set size now, in bytes (Linux ``/proc``; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
