"""Ingest and validate: the flows that put bars into the store and judge them.

Thin by design: each task is one call into `data_contracts/` (or the terminal); Prefect adds retries,
visibility in its UI, and the nightly schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from data_contracts.mt5_export import read_mt5_export
from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from data_contracts.validation import ValidationReport, validate_bars_set
from flows.reports import run_folder, write_index, write_json
from flows.settings import TateSettings


class ValidationFailedError(RuntimeError):
    """An error-level data check failed; the message names the symbol, check and rows."""


@task
def write_synthetic_market(settings: TateSettings) -> dict[str, int]:
    market = generate_market(seed=settings.seed, symbols=settings.symbols)
    store = BarStore(settings.data_dir)
    written = {}
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, settings.timeframe, bars)
        written[symbol] = len(bars)
    store.write_universe(market.universe)
    return written


@task
def import_export_file(settings: TateSettings, path: Path, symbol: str) -> int:
    bars = read_mt5_export(path, server_time=settings.server_time)
    BarStore(settings.data_dir).write_bars(symbol, settings.timeframe, bars)
    return len(bars)


@flow(name="ingest")
def ingest(
    source: str = "sim", path: str | None = None, symbol: str | None = None
) -> dict[str, int]:
    """Put bars into the store: the synthetic market (`sim`) or an MT5 "Export bars" file (`csv`)."""
    settings = TateSettings()
    if source == "sim":
        return write_synthetic_market(settings)
    if source == "csv":
        if path is None or symbol is None:
            raise ValueError("ingest --source csv needs --path and --symbol")
        return {symbol: import_export_file(settings, Path(path), symbol)}
    raise ValueError(f"unknown ingest source {source!r}: expected sim or csv")


@task
def load_bar_set(settings: TateSettings, symbols: list[str] | None) -> dict[str, pd.DataFrame]:
    store = BarStore(settings.data_dir)
    names = symbols or store.symbols(settings.timeframe)
    return {name: store.read_bars(name, settings.timeframe) for name in names}


@task
def run_contracts(
    settings: TateSettings, bars: dict[str, pd.DataFrame], run_name: str
) -> ValidationReport:
    universe = BarStore(settings.data_dir).read_universe()
    return validate_bars_set(
        bars, universe, site_dir=settings.reports_dir / "data_docs", run_name=run_name
    )


@task
def publish_summary(settings: TateSettings, report: ValidationReport) -> Path:
    folder = run_folder(settings.reports_dir, "validation")
    summary = {"run_at": datetime.now(UTC).isoformat(), **report.to_dict()}
    path = write_json(folder / "summary.json", summary)
    write_json(
        settings.reports_dir / "validation" / "latest.json", {**summary, "summary": str(path)}
    )
    write_index(settings.reports_dir)
    create_markdown_artifact(
        key="data-validation",
        markdown=report.to_markdown() + f"\n\nData Docs: `{report.data_docs_index}`\n",
        description="tate data validation",
    )
    return path


@flow(name="validate")
def validate(symbols: list[str] | None = None) -> dict[str, Any]:
    """Run the data contracts over the store; raise when an error-level check fails."""
    settings = TateSettings()
    logger = get_run_logger()
    run_name = datetime.now(UTC).strftime("validate-%Y%m%dT%H%M%S")
    bars = load_bar_set(settings, symbols)
    report = run_contracts(settings, bars, run_name)
    summary = publish_summary(settings, report)
    logger.info("Data Docs: %s; summary: %s", report.data_docs_index, summary)
    if not report.ok:
        raise ValidationFailedError(
            f"{report.message()}\nData Docs: {report.data_docs_index}\nsummary:   {summary}"
        )
    return {"ok": report.ok, "data_docs": str(report.data_docs_index), "summary": str(summary)}
