"""Keeping the point-in-time universe: the importer adds, a person corrects, a log remembers.

Survivorship checks are only as honest as ``universe.csv``, so nobody should have to write it
by hand, and nobody should change it unseen. Two rules hold here:

- an import *adds* a symbol the universe does not know, with ``listed_from`` = its first
  stored bar; it never moves an existing row (a later import of older bars is flagged by
  ``outside_listing`` until a person decides, which is the point of the check);
- a person *sets* a row (``tate universe set``), saying who they are.

Every change (added or set) is appended to ``universe_log.csv`` beside the universe with who,
when and the row before and after, so a verdict can always be traced to the universe it read.
The universe is replaced atomically (temp file + rename, ``BarStore.write_universe``); the log
is appended after it is written. Raw bars are only read.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from data_contracts.schema import UNIVERSE_COLUMNS, coerce_universe
from data_contracts.store import BarStore
from data_contracts.symbols import check_symbol

logger = logging.getLogger(__name__)

LOG_COLUMNS: tuple[str, ...] = (
    "at",
    "by",
    "action",
    "symbol",
    "listed_from",
    "delisted_at",
    "was_listed_from",
    "was_delisted_at",
)


class BadListingError(ValueError):
    """A universe row that cannot be true (delisted before it was listed, naive times).

    Operator action: give ``--listed-from`` before ``--delisted-at``, both as UTC ISO times.
    """


@dataclass(frozen=True)
class UniverseChange:
    """One row added or set; ``was_*`` are the row's times before (None when added)."""

    action: str  # "added" (by an import) or "set" (by a person)
    symbol: str
    listed_from: pd.Timestamp
    delisted_at: pd.Timestamp | None
    was_listed_from: pd.Timestamp | None = None
    was_delisted_at: pd.Timestamp | None = None


def empty_universe() -> pd.DataFrame:
    """A universe with no rows, typed as ``coerce_universe`` returns it."""
    return coerce_universe(pd.DataFrame(columns=list(UNIVERSE_COLUMNS)), source="universe")


def admit_symbols(
    universe: pd.DataFrame, first_bars: Mapping[str, pd.Timestamp]
) -> tuple[pd.DataFrame, list[UniverseChange]]:
    """Add a listed row for each symbol the universe lacks, listed from its first bar.

    Symbols already in the universe are left exactly as they are, whatever their first bar.

    Returns:
        The universe (a new frame) and one ``added`` change per new row.
    """
    known = set(universe["symbol"])
    changes = [
        UniverseChange("added", check_symbol(symbol), _utc(first), None)
        for symbol, first in sorted(first_bars.items())
        if symbol not in known
    ]
    rows = pd.DataFrame(
        {
            "symbol": [c.symbol for c in changes],
            "listed_from": [c.listed_from.isoformat() for c in changes],
            "delisted_at": ["" for _ in changes],  # ISO text, as universe.csv holds it
        }
    )
    if not changes:
        return universe.copy(), []
    both = pd.concat([universe, coerce_universe(rows, source="import")], ignore_index=True)
    return coerce_universe(both, source="universe"), changes


def merge_listings(
    universe: pd.DataFrame, listings: pd.DataFrame
) -> tuple[pd.DataFrame, list[UniverseChange]]:
    """Add the rows of ``listings`` (a source's own universe, e.g. the synthetic market's)
    whose symbol the universe lacks, with their listing and delisting as given.

    Rows already in the universe stay exactly as they are (a person may have set them).

    Returns:
        The universe (a new frame) and one ``added`` change per new row.
    """
    known = set(universe["symbol"])
    new = coerce_universe(listings, source="listings")
    new = new[~new["symbol"].isin(known)].sort_values("symbol").reset_index(drop=True)
    changes = [
        UniverseChange(
            "added",
            check_symbol(symbol),
            _utc(listed),
            None if pd.isna(delisted) else _utc(delisted),
        )
        for symbol, listed, delisted in zip(
            new["symbol"], new["listed_from"], new["delisted_at"], strict=True
        )
    ]
    if not changes:
        return universe.copy(), []
    both = pd.concat([universe, new], ignore_index=True)
    return coerce_universe(both, source="universe"), changes


def set_listing(
    universe: pd.DataFrame,
    symbol: str,
    listed_from: pd.Timestamp,
    delisted_at: pd.Timestamp | None,
) -> tuple[pd.DataFrame, UniverseChange]:
    """Set (or add) ``symbol``'s row to ``listed_from`` → ``delisted_at`` (None: still listed).

    Raises:
        BadListingError: ``delisted_at`` is not after ``listed_from``.
    """
    check_symbol(symbol)
    listed, delisted = _utc(listed_from), None if delisted_at is None else _utc(delisted_at)
    if delisted is not None and delisted <= listed:
        raise BadListingError(
            f"{symbol}: delisted_at {delisted.isoformat()} is not after "
            f"listed_from {listed.isoformat()}"
        )
    mask = universe["symbol"] == symbol
    before = universe.loc[mask].iloc[0] if mask.any() else None
    change = UniverseChange(
        "set",
        symbol,
        listed,
        delisted,
        None if before is None else before["listed_from"],
        None if before is None or pd.isna(before["delisted_at"]) else before["delisted_at"],
    )
    row = pd.DataFrame(
        {"symbol": [symbol], "listed_from": [listed.isoformat()], "delisted_at": [_iso(delisted)]}
    )
    if not mask.any():
        both = pd.concat([universe, coerce_universe(row, source=symbol)], ignore_index=True)
        return coerce_universe(both, source="universe"), change
    out = universe.copy()  # the row stays where it was, so the file's diff is one line
    out.loc[mask, ["listed_from", "delisted_at"]] = [listed, delisted if delisted else pd.NaT]
    return coerce_universe(out, source="universe"), change


def describe_universe(universe: pd.DataFrame) -> list[str]:
    """One line per symbol, sorted: ``SYMBOL  listed_from <ISO>  listed|delisted <ISO>``."""
    rows = universe.sort_values("symbol")
    return [
        f"{symbol}  listed_from {_iso(listed)}  "
        + ("listed" if pd.isna(delisted) else f"delisted {_iso(delisted)}")
        for symbol, listed, delisted in zip(
            rows["symbol"], rows["listed_from"], rows["delisted_at"], strict=True
        )
    ]


def read_universe_or_empty(store: BarStore) -> pd.DataFrame:
    """The stored universe, or an empty one when none has been written yet."""
    return store.read_universe() if store.universe_path.is_file() else empty_universe()


def log_path(store: BarStore) -> Path:
    """``<data>/universe_log.csv``: every change to the universe, oldest first."""
    return store.root / "universe_log.csv"


def record_changes(
    store: BarStore,
    universe: pd.DataFrame,
    changes: list[UniverseChange],
    *,
    by: str,
    at: datetime,
) -> None:
    """Write ``universe`` atomically, then append one log line per change (nothing when none)."""
    if not changes:
        return
    store.write_universe(universe)
    path = log_path(store)
    new = not path.is_file()
    stamp = _utc(pd.Timestamp(at)).isoformat()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(LOG_COLUMNS)
        for c in changes:
            writer.writerow(
                [
                    stamp,
                    by,
                    c.action,
                    c.symbol,
                    c.listed_from.isoformat(),
                    _iso(c.delisted_at),
                    _iso(c.was_listed_from),
                    _iso(c.was_delisted_at),
                ]
            )
            logger.info("universe: %s %s by %s", c.action, c.symbol, by)


def admit_stored_symbols(
    store: BarStore, timeframe: str, symbols: list[str], *, by: str, at: datetime
) -> list[UniverseChange]:
    """Add every one of ``symbols`` with stored bars and no universe row (first bar = listed)."""
    universe = read_universe_or_empty(store)
    known = set(universe["symbol"])
    firsts = {
        s: first
        for s in symbols
        if s not in known and (first := first_bar_time(store, s, timeframe)) is not None
    }
    universe, changes = admit_symbols(universe, firsts)
    record_changes(store, universe, changes, by=by, at=at)
    return changes


def admit_listings(
    store: BarStore, listings: pd.DataFrame, *, by: str, at: datetime
) -> list[UniverseChange]:
    """Merge a source's listings into the stored universe (:func:`merge_listings`), logged."""
    universe, changes = merge_listings(read_universe_or_empty(store), listings)
    record_changes(store, universe, changes, by=by, at=at)
    return changes


def first_bar_time(store: BarStore, symbol: str, timeframe: str) -> pd.Timestamp | None:
    """Oldest stored bar time of ``symbol`` (None when nothing is stored); file names sort by
    first time, so only the first file is read."""
    files = store.files(symbol, timeframe)
    if not files:
        return None
    times = pd.read_parquet(files[0], columns=["time"])["time"]
    return pd.Timestamp(times.min()).tz_convert("UTC")


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is None:
        raise BadListingError(f"time {stamp.isoformat()} has no timezone; the universe is UTC")
    return stamp.tz_convert("UTC")


def _iso(stamp: pd.Timestamp | None) -> str:
    return "" if stamp is None or pd.isna(stamp) else stamp.isoformat()
