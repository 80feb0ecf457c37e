"""What every benchmark script shares: timing the best of a few runs, and results.json.

``make bench`` runs ``bench/[!_]*.py``, so this module is imported, never run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
