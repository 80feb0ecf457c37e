"""Ingest and validate: the flows that put bars into the store and judge them.

Thin by design: each task is one call into `data_contracts/` (or the terminal); Prefect adds retries,
visibility in its UI, and the nightly schedule.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow

from data_contracts.calendar_sessions import calendar_session
from data_contracts.config import ContractConfig, Session
from data_contracts.mt5_export import import_export
from data_contracts.mt5_rates import rates_to_bars
from data_contracts.quarantine import quarantine_to_frame
from data_contracts.schema import TIMEFRAME_SECONDS
from data_contracts.server_time import utc_to_server
from data_contracts.sessions import fx_session_for
from data_contracts.store import BarStore
from data_contracts.symbol_records import (
    load_spec,
    load_specs,
    read_server_times,
    record_server_time,
    spec_from_symbol_info,
    write_spec,
)
from data_contracts.symbols import UnknownSymbolSpecError
from data_contracts.synthetic import generate_market, write_market_note
from data_contracts.universe import admit_listings, admit_stored_symbols
from data_contracts.validation import ValidationReport, validate_bars_set
from flows.errors import BadOptionError, TerminalUnavailableError, ValidationFailedError
from flows.plain_runs import run_logger, task
from flows.progress import stage_progress
from flows.reports import run_folder, write_index, write_json
from flows.settings import TateSettings
from flows.stale_runs import skip_if_stale
from flows.verdicts import publish_verdict
from serving.mt5.rates import closed_rates_range
from serving.mt5.terminal import Terminal


@task
def write_synthetic_market(settings: TateSettings) -> dict[str, int]:
    # the synthetic market delists USDCHF half way; a symbol list without it delists none
    delisted = "USDCHF" if "USDCHF" in settings.symbols else None
    market = generate_market(seed=settings.seed, symbols=settings.symbols, delisted=delisted)
    store = BarStore(settings.data_dir)
    written = {}
    with stage_progress("ingest", len(market.bars), log=run_logger(), unit="symbols") as advance:
        for symbol, bars in market.bars.items():
            store.write_bars(symbol, settings.timeframe, bars)
            written[symbol] = len(bars)
            advance(detail=f"{symbol} {len(bars)} bars")
    # added to (never replacing) the universe: a person's corrections and the rows other
    # sources added stay, and each new row is logged like any import's
    admit_listings(store, market.universe, by="ingest sim", at=datetime.now(UTC))
    write_market_note(settings.data_dir, market, seed=settings.seed)
    return written


@task
def import_export_file(settings: TateSettings, path: Path, symbol: str) -> str:
    """Import one export, all of it or none; the line says rows read, added, present, refused."""
    summary = import_export(
        path,
        BarStore(settings.data_dir),
        symbol,
        timeframe=settings.timeframe,
        server_time=settings.server_time,
    )
    if summary.added:  # bars already stored keep the clock they came in
        record_server_time(settings.data_dir, symbol, settings.server_time)
    admit_new_symbols(settings, [symbol], by=f"ingest csv {path.name}")
    return summary.describe()


def admit_new_symbols(settings: TateSettings, symbols: list[str], *, by: str) -> list[str]:
    """Add the ingested symbols the universe lacks, listed from their first stored bar; rows
    already there are never moved (a person corrects them with `tate universe set`)."""
    changes = admit_stored_symbols(
        BarStore(settings.data_dir), settings.timeframe, symbols, by=by, at=datetime.now(UTC)
    )
    return [change.symbol for change in changes]


def _server_wall(utc: datetime, server_time: str) -> datetime:
    """A UTC instant as the broker's server wall time, marked UTC (how MT5 reads datetimes)."""
    wall = utc_to_server(pd.Series([pd.Timestamp(utc)]), server_time).iloc[0]
    return pd.Timestamp(wall).tz_localize("UTC").to_pydatetime()


def ingest_from_terminal(
    settings: TateSettings,
    terminal: Terminal,
    symbols: list[str],
    *,
    start: datetime,
    now: datetime,
    server_time: str,
) -> dict[str, int]:
    """Fetch, per symbol, only the closed bars the store lacks; a repeat run adds nothing.

    `start` is where an empty symbol's history begins; a symbol already stored resumes one bar after
    its last stored bar. Each symbol is written on its own, so a failure keeps the others' rows.
    """
    store = BarStore(settings.data_dir)
    stored = set(store.symbols(settings.timeframe))
    written: dict[str, int] = {}
    with stage_progress("ingest", len(symbols), log=run_logger(), unit="symbols") as advance:
        for symbol in symbols:
            written[symbol] = _ingest_symbol(
                settings, terminal, store, symbol, symbol in stored, start, now, server_time
            )
            advance(detail=f"{symbol} {written[symbol]} new bars")
    admit_new_symbols(
        settings, [s for s in symbols if written.get(s)], by=f"ingest {terminal_name(terminal)}"
    )
    return written


def _ingest_symbol(
    settings: TateSettings,
    terminal: Terminal,
    store: BarStore,
    symbol: str,
    stored: bool,
    start: datetime,
    now: datetime,
    server_time: str,
) -> int:
    """One symbol's closed bars the store lacks, written; how many."""
    step = timedelta(seconds=TIMEFRAME_SECONDS[settings.timeframe])
    last = store.last_time(symbol, settings.timeframe) if stored else None
    since = start if last is None else last.to_pydatetime() + step
    rates = closed_rates_range(
        terminal,
        symbol,
        settings.timeframe,
        _server_wall(since, server_time),
        _server_wall(now + step, server_time),
    )
    bars = rates_to_bars(rates, server_time=server_time, source=f"terminal {symbol}")
    added = store.write_bars(symbol, settings.timeframe, bars) if len(bars) else None
    written = len(bars) if added is not None else 0
    store_terminal_spec(settings, terminal, symbol, now)
    if written:
        record_server_time(settings.data_dir, symbol, server_time)
    return written


def store_terminal_spec(
    settings: TateSettings, terminal: Terminal, symbol: str, read_at: datetime
) -> None:
    """Keep the terminal's `symbol_info()` beside the bars with when it was read, so file-free
    symbols (an index CFD, a metal) are costed, sized and simulated from the broker's figures."""
    info = terminal.symbol_info(symbol)
    if info is not None:
        spec = spec_from_symbol_info(symbol, info)
        write_spec(
            settings.data_dir,
            spec,
            source=f"{terminal_name(terminal)}.symbol_info",
            read_at=read_at,
        )


def terminal_name(terminal: Terminal) -> str:
    """What the universe log calls a terminal source (its class, e.g. SimTerminal)."""
    return type(terminal).__name__


@task
def ingest_terminal_task(settings: TateSettings, source: str, start: str | None) -> dict[str, int]:
    from flows.terminals import live_terminal
    from flows.times import utc_time

    terminal = live_terminal(settings, source)
    if not terminal.initialize():
        raise TerminalUnavailableError(
            f"{source} terminal did not initialize: {terminal.last_error()}"
        )
    try:
        first = utc_time(start, "--start") if start else datetime.now(UTC) - timedelta(days=365)
        return ingest_from_terminal(
            settings,
            terminal,
            list(settings.symbols),
            start=first,
            now=datetime.now(UTC),
            server_time=settings.server_time,
        )
    finally:
        terminal.shutdown()


@flow(name="ingest")
def ingest(
    source: str = "sim",
    path: str | None = None,
    symbol: str | None = None,
    start: str | None = None,
) -> dict[str, int] | dict[str, str]:
    """Put bars into the store: the synthetic market (`sim`), an MT5 "Export bars" file (`csv`), or
    a terminal (`mt5`, `mt5linux`: only the closed bars the store lacks, from `start` when empty).

    Returns bars written per symbol; for `csv`, the import's summary line per symbol."""
    settings = TateSettings()
    if source == "sim":
        return write_synthetic_market(settings)
    if source == "csv":
        if path is None or symbol is None:
            raise BadOptionError("ingest --source csv needs --path and --symbol")
        return {symbol: import_export_file(settings, Path(path), symbol)}
    if source in ("mt5", "mt5linux"):
        return ingest_terminal_task(settings, source, start)
    raise BadOptionError(f"unknown ingest source {source!r}: expected sim, csv, mt5 or mt5linux")


@task
def load_bar_set(settings: TateSettings, symbols: list[str] | None) -> dict[str, pd.DataFrame]:
    store = BarStore(settings.data_dir)
    names = store.require_symbols(settings.timeframe, symbols)
    return {name: store.read_bars(name, settings.timeframe) for name in names}


@task
def run_contracts(
    settings: TateSettings,
    bars: dict[str, pd.DataFrame],
    run_name: str,
    subset: bool = False,
) -> ValidationReport:
    """Judge `bars` against the universe; a `subset` (symbols asked for by name) is judged
    against those symbols' rows only, so the others' absence is not a `missing_symbol`."""
    universe = BarStore(settings.data_dir).read_universe()
    if subset:
        universe = universe[universe["symbol"].isin(list(bars))].reset_index(drop=True)
    return validate_bars_set(
        bars,
        universe,
        site_dir=settings.reports_dir / "data_docs",
        run_name=run_name,
        config=contract_config(settings, list(bars)),
        timeframe=settings.timeframe,
    )


def contract_config(settings: TateSettings, symbols: list[str]) -> ContractConfig:
    """The contracts with each symbol's session as its record and its import say."""
    return ContractConfig(sessions=symbol_sessions(settings.data_dir, symbols))


def symbol_sessions(data_dir: Path, symbols: list[str]) -> dict[str, Session]:
    """Each symbol's session: the exchange calendar its record names (``session_calendar``),
    else the FX week in the clock its bars were imported in (a NY+7 export's Monday open is
    Sunday 21:00 UTC in US summer, not outside the session); a symbol with neither keeps the
    contracts' default week. Bars are aligned in the import's clock either way.

    Raises:
        SessionCalendarError: a record names a calendar exchange-calendars does not know.
        BadSymbolSpecError: a stored record is unusable.
    """
    clocks = read_server_times(data_dir)
    sessions: dict[str, Session] = {}
    for symbol in symbols:
        calendar, clock = _session_calendar(data_dir, symbol), clocks.get(symbol)
        if calendar is not None:
            sessions[symbol] = calendar_session(symbol, calendar, clock or "UTC")
        elif clock is not None:
            sessions[symbol] = fx_session_for(clock)
    return sessions


def _session_calendar(data_dir: Path, symbol: str) -> str | None:
    """The calendar the symbol's record names; None without one or without a record (the
    record's absence is refused where a spec is needed, not here)."""
    try:
        return load_spec(data_dir, symbol).session_calendar
    except UnknownSymbolSpecError:
        return None


@task
def publish_summary(
    settings: TateSettings, report: ValidationReport, store_digest: str
) -> dict[str, str]:
    """Write summary.json and quarantine.csv into this run's folder and point latest.json at them."""
    folder = run_folder(settings.reports_dir, "validation")
    quarantine = folder / "quarantine.csv"
    quarantine_to_frame(report.quarantine).to_csv(quarantine, index=False)
    summary = {
        "run_at": datetime.now(UTC).isoformat(),
        "timeframe": settings.timeframe,
        "store_digest": store_digest,
        "quarantine_file": str(quarantine),
        **report.to_dict(),
    }
    path = write_json(folder / "summary.json", summary)
    write_json(latest_validation_path(settings), {**summary, "summary": str(path)})
    publish_verdict(
        folder,
        "validation",
        report.to_markdown() + f"\n\nData Docs: `{report.data_docs_index}`\n",
        f"tate data validation: {report.verdict()}",
    )
    write_index(settings.reports_dir)  # after the verdict, so the home links it
    return {"summary": str(path), "quarantine": str(quarantine)}


def latest_validation_path(settings: TateSettings) -> Path:
    """`reports/validation/latest.json`: the newest validation verdict, what training reads."""
    return settings.reports_dir / "validation" / "latest.json"


def validation_of_store(settings: TateSettings, symbols: list[str]) -> dict[str, Any] | None:
    """The latest verdict if it judged exactly the bars the store holds now for `symbols`."""
    path = latest_validation_path(settings)
    latest = json.loads(path.read_text()) if path.exists() else None
    digest = BarStore(settings.data_dir).digest(settings.timeframe, sorted(symbols))
    if latest is None or latest.get("store_digest") != digest:
        return None
    if sorted(latest.get("symbols", [])) != sorted(symbols):
        return None
    return latest


@task
def back_up_journal(settings: TateSettings) -> str:
    """The nightly verified copy of the journal (SQLite's online backup: the worker writes on)."""
    from serving.journal_backup import backup_journal

    copy = backup_journal(settings.journal, settings.home, at=datetime.now(UTC))
    return f"journal backed up to {copy}" if copy else "no SQLite journal to back up"


@flow(name="validate")
def validate(symbols: list[str] | None = None, backup_journal: bool = False) -> dict[str, Any]:
    """Run the data contracts over the store.

    Row-level errors quarantine those rows (training reads the store minus the quarantine);
    dataset-level errors make the verdict blocking and the flow fails (`tate validate` exits 1).
    With `backup_journal` (the nightly deployment) the journal is backed up first, whatever
    the data's verdict.
    """
    settings = TateSettings()
    logger = run_logger()
    if skipped := skip_if_stale("validate", datetime.now(UTC), logger):
        return skipped
    if backup_journal:
        logger.info(back_up_journal(settings))
    run_name = datetime.now(UTC).strftime("validate-%Y%m%dT%H%M%S")
    bars = load_bar_set(settings, symbols)
    # every judged symbol needs its one record (terminal, symbols.toml or the built-in table);
    # one without is refused here naming symbols.toml (exit 2), not at training or serving
    load_specs(settings.data_dir, sorted(bars))
    digest = BarStore(settings.data_dir).digest(settings.timeframe, sorted(bars))
    # every stored symbol (what `train` passes by default) is judged against the whole universe
    subset = sorted(bars) != BarStore(settings.data_dir).symbols(settings.timeframe)
    report = run_contracts(settings, bars, run_name, subset=subset)
    written = publish_summary(settings, report, digest)
    logger.info(
        "verdict %s: %d failures, %d quarantined ranges; Data Docs %s; summary %s",
        report.result_id,
        len(report.failures),
        len(report.quarantine),
        report.data_docs_index,
        written["summary"],
    )
    if report.blocking:
        raise ValidationFailedError(
            f"{report.message()}\nData Docs: {report.data_docs_index}\nsummary:   {written['summary']}"
        )
    return {
        "ok": report.ok,
        "result_id": report.result_id,
        "failures": report.message() if report.failures else "",
        "quarantined": len(report.quarantine),
        "data_docs": str(report.data_docs_index),
        **written,
    }
