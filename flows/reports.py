"""Report folders under TATE_HOME/reports: one dated folder per run, plus an index.html of them all."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def run_folder(reports_dir: Path, kind: str, now: datetime | None = None) -> Path:
    """A new folder `reports/<kind>/<UTC timestamp>/` for one run's output."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%S-%fZ")
    folder = reports_dir / kind / stamp
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write JSON through a temporary file so a reader never sees half a summary."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
    return path


def write_index(reports_dir: Path) -> Path:
    """Rebuild `reports/index.html`: every HTML report under reports/, newest first per kind."""
    sections: list[str] = []
    for kind_dir in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        pages = sorted(kind_dir.rglob("index.html"), reverse=True) + sorted(
            (p for p in kind_dir.rglob("*.html") if p.name != "index.html"), reverse=True
        )
        if not pages:
            continue
        items = "".join(
            f'<li><a href="{html.escape(str(p.relative_to(reports_dir)))}">'
            f"{html.escape(str(p.relative_to(kind_dir)))}</a></li>"
            for p in pages[:200]
        )
        sections.append(f"<h2>{html.escape(kind_dir.name)}</h2><ul>{items}</ul>")
    index = reports_dir / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>tate reports</title></head>"
        f"<body><h1>tate reports</h1>{''.join(sections)}</body></html>"
    )
    return index
