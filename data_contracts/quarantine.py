"""Quarantine: which stored bars training must skip, as (symbol, time range, check) entries.

The raw store is evidence and is never edited; instead validation lists the bad rows and
training reads the store minus that list. Entries are time ranges rather than row numbers
because row numbers change when bars are appended, while a bar's time does not. A range
covers a run of flagged bars with no clean bar between them, so ``apply_quarantine`` drops
exactly the flagged rows (plus any row sharing a flagged row's timestamp: a duplicate time
cannot be told apart from its twin by time alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.schema import TIME_DTYPE

QUARANTINE_COLUMNS: tuple[str, ...] = ("symbol", "start", "end", "check")


@dataclass(frozen=True, order=True)
class QuarantineEntry:
    """Bars of ``symbol`` with ``start <= time <= end`` (UTC, inclusive) failed ``check``."""

    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    check: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO UTC times)."""
        return {
            "symbol": self.symbol,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "check": self.check,
        }


def quarantine_entries(
    symbol: str, times: pd.Series, mask: np.ndarray, check: str
) -> list[QuarantineEntry]:
    """Entries covering the rows of ``mask`` (rows with NaT times cannot be covered: skipped).

    Flagged rows are grouped in time order; a group ends where a clean bar lies between two
    flagged ones, so no clean bar falls inside a range.
    """
    valid = times.notna().to_numpy()
    if not (mask & valid).any():
        return []
    raw = times[valid].to_numpy("datetime64[ns]").view("int64")
    flagged = np.asarray(mask)[valid]
    order = np.argsort(raw, kind="stable")
    raw, flagged = raw[order], flagged[order]
    # distinct times in order, flagged if any row at that time is flagged
    distinct, first = np.unique(raw, return_index=True)
    hit = np.logical_or.reduceat(flagged, first)
    positions = np.flatnonzero(hit)
    breaks = np.flatnonzero(np.diff(positions) > 1) + 1
    entries = []
    for group in np.split(positions, breaks):
        start = pd.Timestamp(int(distinct[group[0]]), tz="UTC")
        end = pd.Timestamp(int(distinct[group[-1]]), tz="UTC")
        entries.append(QuarantineEntry(symbol, start, end, check))
    return entries


def quarantine_mask(
    times: pd.Series, symbol: str, quarantine: Sequence[QuarantineEntry]
) -> np.ndarray:
    """True for rows of ``symbol`` whose time falls in any of its quarantine ranges."""
    mask = np.zeros(len(times), dtype=bool)
    entries = [e for e in quarantine if e.symbol == symbol]
    if not entries or not len(times):
        return mask
    raw = times.dt.tz_convert("UTC").to_numpy("datetime64[ns]").view("int64")
    starts = np.array([e.start.value for e in entries], dtype=np.int64)
    ends = np.array([e.end.value for e in entries], dtype=np.int64)
    order = np.argsort(starts)
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    k = np.searchsorted(starts, raw, side="right") - 1
    inside = k >= 0
    mask[inside] = raw[inside] <= ends[k[inside]]
    return mask & times.notna().to_numpy()


def apply_quarantine(
    bars: pd.DataFrame, symbol: str, quarantine: Sequence[QuarantineEntry]
) -> pd.DataFrame:
    """``bars`` of ``symbol`` without the quarantined rows (a new frame; the input is untouched)."""
    mask = quarantine_mask(bars["time"], symbol, quarantine)
    return bars.loc[~mask].reset_index(drop=True)


def quarantine_to_frame(quarantine: Sequence[QuarantineEntry]) -> pd.DataFrame:
    """Entries as a frame (``symbol, start, end, check``; UTC) for CSV or parquet."""
    entries = sorted(quarantine)
    return pd.DataFrame(
        {
            "symbol": pd.Series([e.symbol for e in entries], dtype="object"),
            "start": pd.Series([e.start for e in entries], dtype=TIME_DTYPE),
            "end": pd.Series([e.end for e in entries], dtype=TIME_DTYPE),
            "check": pd.Series([e.check for e in entries], dtype="object"),
        }
    )


def quarantine_from_frame(frame: pd.DataFrame) -> list[QuarantineEntry]:
    """Entries back from ``quarantine_to_frame``'s layout, read from parquet or CSV (ISO text).

    Raises:
        ValueError: a column is missing, or a time is naive or unparseable.
    """
    missing = [c for c in QUARANTINE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"quarantine frame lacks column(s) {missing}")
    times = {}
    for column in ("start", "end"):
        values = frame[column]
        if pd.api.types.is_datetime64_dtype(values.dtype) and not isinstance(
            values.dtype, pd.DatetimeTZDtype
        ):
            raise ValueError(f"quarantine column {column!r} is tz-naive")
        times[column] = pd.to_datetime(values, utc=True, format="ISO8601").astype(TIME_DTYPE)
    return sorted(
        QuarantineEntry(str(symbol), start, end, str(check))
        for symbol, start, end, check in zip(
            frame["symbol"], times["start"], times["end"], frame["check"], strict=True
        )
    )
