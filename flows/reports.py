"""Report folders under TATE_HOME/reports: one dated folder per run, plus the reports home (index.html)."""

from __future__ import annotations

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
    """Rebuild `reports/index.html`, the reports home (`flows.reports_home`): the newest verdict
    of each kind, then each kind's history with links; HTML pages of other folders listed after."""
    from flows.reports_home import KINDS, read_runs, render_home

    docs = reports_dir / "data_docs" / "index.html"
    others = [
        p.relative_to(reports_dir).as_posix()
        for kind_dir in sorted(p for p in reports_dir.iterdir() if p.is_dir())
        if kind_dir.name not in (*KINDS, "data_docs")
        for p in sorted(kind_dir.rglob("*.html"), reverse=True)[:200]
    ]
    page = render_home(
        read_runs(reports_dir),
        data_docs=docs.relative_to(reports_dir).as_posix() if docs.is_file() else None,
        other_pages=others,
    )
    index = reports_dir / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(index)
    return index
