"""One verdict for a bar set: GX suites (bars, universe) plus survivorship, as a report.

The report is the hand-off to flows (a Prefect artifact from ``to_markdown``, a JSON summary
from ``to_dict``), to the CLI and to training. What it decides:

- ``quarantine``: bars that failed an ``error``-level *row* check (spike, duplicate, bad OHLC,
  NaN price, …) as (symbol, time range, check); training reads the store minus these.
- ``blocking``: an ``error``-level *dataset* check failed (schema, dtypes, universe,
  survivorship, too large a share of a symbol quarantined, rows that cannot be quarantined):
  training must not run on this data at all.
- ``ok``: no ``error``-level failure of any kind (``warn`` failures allowed). So ``ok``
  implies not blocking; ``not ok and not blocking`` means "usable once quarantined".
- ``result_id``: first 16 hex of the sha256 of the report's content (verdicts, quarantine,
  config, row counts; not the run name or paths), for the MLflow run to record.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from data_contracts.config import ContractConfig, is_row_check
from data_contracts.findings import CheckFailure
from data_contracts.flags import check_masks
from data_contracts.quarantine import QuarantineEntry, quarantine_entries, quarantine_mask
from data_contracts.survivorship import check_survivorship, missing_share_by_month

if TYPE_CHECKING:  # GX is slow to import; the suites module is loaded only when validating
    from data_contracts.suites import CheckOutcome

logger = logging.getLogger(__name__)

__all__ = ["CheckFailure", "QuarantineEntry", "ValidationReport", "validate_bars_set"]


@dataclass(frozen=True)
class ValidationReport:
    """Verdict of ``validate_bars_set``; see the module docstring for ok/blocking/quarantine."""

    ok: bool
    failures: list[CheckFailure]
    data_docs_index: Path
    run_name: str = ""
    symbols: list[str] = field(default_factory=list)
    checks_run: int = 0
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    blocking: bool = False
    result_id: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    quarantined_rows: dict[str, int] = field(default_factory=dict)
    missing_by_month: pd.DataFrame = field(default_factory=pd.DataFrame)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths as strings, times ISO UTC, the monthly table as records)."""
        return {
            "ok": self.ok,
            "blocking": self.blocking,
            "result_id": self.result_id,
            "run_name": self.run_name,
            "symbols": list(self.symbols),
            "checks_run": self.checks_run,
            "failures": [f.to_dict() for f in self.failures],
            "quarantine": [e.to_dict() for e in self.quarantine],
            "rows": dict(self.rows),
            "quarantined_rows": dict(self.quarantined_rows),
            "missing_by_month": self.missing_by_month.to_dict(orient="records"),
            "config": self.config,
            "data_docs_index": str(self.data_docs_index),
        }

    def to_markdown(self) -> str:
        """A verdict line and a table of failures (the flow publishes it as an artifact)."""
        lines = [
            f"### Data validation `{self.run_name}`: {self.verdict()}",
            "",
            f"Symbols: {', '.join(self.symbols) or 'none'}; checks run: {self.checks_run}; "
            f"quarantined rows: {sum(self.quarantined_rows.values())}; "
            f"result id: `{self.result_id}`; Data Docs: `{self.data_docs_index}`",
            "",
        ]
        if self.failures:
            lines += [
                "| symbol | check | count | first rows | detail | severity |",
                "|---|---|---:|---|---|---|",
            ]
            lines += [
                f"| {_cell(f.symbol)} | {_cell(f.check)} | {f.count} | "
                f"{_cell(', '.join(f.rows))} | {_cell(f.detail)} | {f.severity} |"
                for f in self.failures
            ]
        return "\n".join(lines) + "\n"

    def verdict(self) -> str:
        """``passed`` / ``passed with quarantine`` / ``BLOCKED``, with failure counts."""
        errors = sum(f.severity == "error" for f in self.failures)
        warnings = len(self.failures) - errors
        if self.blocking:
            return f"BLOCKED ({errors} failing checks, {warnings} warnings)"
        if not self.ok:
            return f"passed with quarantine ({errors} failing checks, {warnings} warnings)"
        return f"passed ({warnings} warnings)" if warnings else "passed"

    def message(self) -> str:
        """One line per failure naming symbol, check and rows (or a one-line pass)."""
        if not self.failures:
            return f"{len(self.symbols)} symbols passed {self.checks_run} checks"
        return "\n".join(f.describe() for f in self.failures)


def validate_bars_set(
    bars: dict[str, pd.DataFrame],
    universe: pd.DataFrame,
    *,
    site_dir: Path,
    run_name: str,
    max_rows: int = 5,
    config: ContractConfig | None = None,
    timeframe: str | None = None,
    result_format: str = "SUMMARY",
) -> ValidationReport:
    """Run the bar and universe suites and the survivorship checks; decide the quarantine.

    Args:
        bars: symbol → bars in the MT5 rate layout (possibly broken: that is what is checked).
        universe: point-in-time universe (``symbol, listed_from, delisted_at``).
        site_dir: folder for the Data Docs site (created; a real folder, never a temp dir).
        run_name: shown in Data Docs and the report.
        max_rows: how many offending rows each failure lists.
        config: thresholds, sessions, severities (``ContractConfig()`` when None).
        timeframe: bar length for gap and alignment checks (inferred per symbol when None).
        result_format: GX result format (``SUMMARY`` for counts in Data Docs, or ``BOOLEAN_ONLY``).

    Raises:
        ValueError: ``bars`` is empty (there is nothing to judge).
    """
    if not bars:
        raise ValueError("validate_bars_set: no symbols given")
    config = config or ContractConfig()
    # GX is slow to import; pay only here
    from great_expectations.core.run_identifier import RunIdentifier

    from data_contracts.data_docs_offline import localize_data_docs
    from data_contracts.gx_context import make_context
    from data_contracts.suites import run_bar_suites
    from data_contracts.universe_suite import validate_universe

    site = Path(site_dir)
    context = make_context(site)
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    universe_failures = validate_universe(context, universe, run_id=run_id, max_rows=max_rows)
    run = run_bar_suites(
        bars,
        site_dir=site,
        run_name=run_name,
        max_rows=max_rows,
        config=config,
        timeframe=timeframe,
        result_format=result_format,
        context=context,
        run_id=run_id,
    )
    localize_data_docs(site)  # after the last page GX renders: CDN links → vendored copies
    failures = _bar_failures(run.outcomes, bars, max_rows)
    quarantine, counts, extra = _quarantine(failures, run.frames, config)
    failures += extra
    failures += universe_failures
    if not universe_failures:  # survivorship against a broken universe would be a guess
        failures += check_survivorship(bars, universe, max_rows=max_rows)
        by_month = missing_share_by_month(bars, universe)
    else:
        by_month = pd.DataFrame()
    failures = [replace(f, severity=config.severity_of(f.check)) for f in failures]
    blocking = any(f.severity == "error" and not is_row_check(f.check) for f in failures)
    report = ValidationReport(
        ok=not any(f.severity == "error" for f in failures),
        failures=failures,
        data_docs_index=run.data_docs_index,
        run_name=run_name,
        symbols=sorted(bars),
        checks_run=len(run.outcomes) + 4,  # + the universe suite's four
        quarantine=quarantine,
        blocking=blocking,
        rows={s: len(bars[s]) for s in sorted(bars)},
        quarantined_rows=counts,
        missing_by_month=by_month,
        config=config.to_dict(),
    )
    report = replace(report, result_id=_result_id(report))
    logger.info("validation %s: %s", run_name, report.verdict())
    return report


def _bar_failures(
    outcomes: Sequence[CheckOutcome], bars: dict[str, pd.DataFrame], max_rows: int
) -> list[CheckFailure]:
    """Failed bar outcomes as failures, minus checks on a column the schema found missing."""
    missing = {
        (o.symbol, column)
        for o in outcomes
        if o.check == "schema" and not o.success
        for column in _missing_columns(o.detail)
    }
    failures: list[CheckFailure] = []
    for outcome in outcomes:
        if outcome.success or any((outcome.symbol, c) in missing for c in outcome.columns):
            continue  # the schema failure already names the missing column
        if outcome.check == "schema":
            rows = [outcome.detail] if outcome.detail else []
        else:
            rows = _describe_rows(bars[outcome.symbol], outcome.rows[:max_rows])
        detail = "" if outcome.check == "schema" else outcome.detail
        failures.append(CheckFailure(outcome.symbol, outcome.check, outcome.count, rows, detail))
    return sorted(failures, key=lambda f: (f.symbol, f.check))


def _quarantine(
    failures: list[CheckFailure], frames: Mapping[str, pd.DataFrame], config: ContractConfig
) -> tuple[list[QuarantineEntry], dict[str, int], list[CheckFailure]]:
    """Quarantine entries of error-level row failures; too large a share is a new failure."""
    entries: list[QuarantineEntry] = []
    extra: list[CheckFailure] = []
    for f in failures:
        if config.severity_of(f.check) != "error" or not is_row_check(f.check):
            continue
        frame = frames.get(f.symbol)
        mask = None
        if frame is not None and isinstance(frame["time"].dtype, pd.DatetimeTZDtype):
            mask = check_masks(frame, functools.partial(operator.eq, f.check)).get(f.check)
        if frame is None or mask is None or not mask.any():
            detail = f"{f.check} rows cannot be located by time, so they cannot be quarantined"
            extra.append(CheckFailure(f.symbol, "unquarantinable", f.count, list(f.rows), detail))
            continue
        entries += quarantine_entries(f.symbol, frame["time"], mask, f.check)
    counts: dict[str, int] = {}
    for symbol in sorted({e.symbol for e in entries}):
        frame = frames[symbol]
        dropped = int(quarantine_mask(frame["time"], symbol, entries).sum())
        counts[symbol] = dropped
        share = dropped / max(len(frame), 1)
        if share > config.max_quarantine_share:
            detail = f"{share:.2%} of {len(frame)} rows quarantined; at most {config.max_quarantine_share:.2%} allowed"
            extra.append(CheckFailure(symbol, "quarantine_share", dropped, [], detail))
    return sorted(entries), counts, extra


def _result_id(report: ValidationReport) -> str:
    content = report.to_dict()
    for volatile in ("result_id", "run_name", "data_docs_index"):
        content.pop(volatile)
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
