"""One verdict for a bar set: GX suites per symbol plus survivorship, as a ``ValidationReport``.

The report is the hand-off to flows (a Prefect artifact from ``to_markdown``, a JSON summary
from ``to_dict``) and to the CLI (exit 1 when ``ok`` is False, print ``data_docs_index``).
Failures name symbol, check, count and the first offending rows, so the message alone says
where to look.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from data_contracts.findings import CheckFailure
from data_contracts.survivorship import check_survivorship

logger = logging.getLogger(__name__)

__all__ = ["CheckFailure", "ValidationReport", "validate_bars_set"]


@dataclass(frozen=True)
class ValidationReport:
    """Verdict of ``validate_bars_set``; ``ok`` is True only when no check failed."""

    ok: bool
    failures: list[CheckFailure]
    data_docs_index: Path
    run_name: str = ""
    symbols: list[str] = field(default_factory=list)
    checks_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths as strings)."""
        return {
            "ok": self.ok,
            "run_name": self.run_name,
            "symbols": list(self.symbols),
            "checks_run": self.checks_run,
            "failures": [f.to_dict() for f in self.failures],
            "data_docs_index": str(self.data_docs_index),
        }

    def to_markdown(self) -> str:
        """A verdict line and a table of failures (the flow publishes it as an artifact)."""
        verdict = "passed" if self.ok else f"FAILED ({len(self.failures)} failing checks)"
        lines = [
            f"### Data validation `{self.run_name}`: {verdict}",
            "",
            f"Symbols: {', '.join(self.symbols) or 'none'}; checks run: {self.checks_run}; "
            f"Data Docs: `{self.data_docs_index}`",
            "",
        ]
        if self.failures:
            lines += ["| symbol | check | count | first rows | detail |", "|---|---|---:|---|---|"]
            lines += [
                f"| {_cell(f.symbol)} | {_cell(f.check)} | {f.count} | "
                f"{_cell(', '.join(f.rows))} | {_cell(f.detail)} |"
                for f in self.failures
            ]
        return "\n".join(lines) + "\n"

    def message(self) -> str:
        """One line per failure naming symbol, check and rows (or a one-line pass)."""
        if self.ok:
            return f"{len(self.symbols)} symbols passed {self.checks_run} checks"
        return "\n".join(f.describe() for f in self.failures)


def validate_bars_set(
    bars: dict[str, pd.DataFrame],
    universe: pd.DataFrame,
    *,
    site_dir: Path,
    run_name: str,
    max_rows: int = 5,
) -> ValidationReport:
    """Run the bar suite on every symbol and the survivorship checks on the set.

    Args:
        bars: symbol → bars in the MT5 rate layout (possibly broken: that is what is checked).
        universe: point-in-time universe (``symbol, listed_from, delisted_at``).
        site_dir: folder for the Data Docs site (created; a real folder, never a temp dir).
        run_name: shown in Data Docs and the report.
        max_rows: how many offending rows each failure lists.

    Raises:
        ValueError: ``bars`` is empty (there is nothing to judge).
    """
    if not bars:
        raise ValueError("validate_bars_set: no symbols given")
    from data_contracts.suites import run_bar_suites  # GX is slow to import; pay only here

    run = run_bar_suites(bars, site_dir=Path(site_dir), run_name=run_name, max_rows=max_rows)
    missing = {
        (o.symbol, column)
        for o in run.outcomes
        if o.check == "schema" and not o.success
        for column in _missing_columns(o.detail)
    }
    failures: list[CheckFailure] = []
    for outcome in run.outcomes:
        if outcome.success:
            continue
        if any((outcome.symbol, c) in missing for c in outcome.columns):
            continue  # the schema failure already names the missing column
        if outcome.check == "schema":
            rows = [outcome.detail] if outcome.detail else []
        else:
            rows = _describe_rows(bars[outcome.symbol], outcome.rows)
        detail = "" if outcome.check == "schema" else outcome.detail
        failures.append(CheckFailure(outcome.symbol, outcome.check, outcome.count, rows, detail))
    failures.sort(key=lambda f: (f.symbol, f.check))
    failures += check_survivorship(bars, universe, max_rows=max_rows)
    report = ValidationReport(
        ok=not failures,
        failures=failures,
        data_docs_index=run.data_docs_index,
        run_name=run_name,
        symbols=sorted(bars),
        checks_run=len(run.outcomes),
    )
    logger.info("validation %s: %s", run_name, "ok" if report.ok else report.message())
    return report


def _missing_columns(detail: str) -> list[str]:
    """Column names from the schema outcome's ``missing: a, b; unexpected: c`` detail."""
    for part in detail.split(";"):
        kind, _, names = part.strip().partition(": ")
        if kind == "missing":
            return [n.strip() for n in names.split(",") if n.strip()]
    return []


def _describe_rows(frame: pd.DataFrame, rows: tuple[int, ...]) -> list[str]:
    """Row numbers as ``<UTC time> (row i)`` when the frame has usable times."""
    times = frame["time"].reset_index(drop=True) if "time" in frame.columns else None
    described = []
    for i in rows:
        stamp = times.iloc[i] if times is not None and i < len(times) else None
        if isinstance(stamp, pd.Timestamp) and not pd.isna(stamp):
            described.append(f"{stamp.isoformat()} (row {i})")
        else:
            described.append(f"row {i}")
    return described


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
