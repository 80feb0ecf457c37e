"""Survivorship checks: does a bar set match the point-in-time universe it claims to cover?

A backtest over only the symbols alive today looks better than any strategy could have
done at the time: the losers were delisted and quietly left out. These checks compare each
symbol's first/last bar with the universe (``symbol, listed_from, delisted_at``) and flag:

- ``missing_symbol``: a universe symbol listed during the dataset's span has no bars;
- ``outside_listing``: bars before ``listed_from`` or after ``delisted_at`` (beyond one bar);
- ``not_in_universe``: bars for a symbol the universe does not know;
- ``survivorship_bias``: every symbol in the set is alive at its end while the universe
  records delistings inside the span (the delisted ones were dropped);
- ``early_stop``: a history ends well before the dataset does with no delisting recorded
  (a feed outage or a silent delisting — either way the set is not point-in-time).

``missing_share_by_month`` reports, per month, the share of the listed universe without bars.

Pure pandas; no great-expectations (these are set-level, not row-level, rules).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from data_contracts.findings import CheckFailure
from data_contracts.schema import bar_length, coerce_universe

logger = logging.getLogger(__name__)

DEFAULT_EARLY_STOP = pd.Timedelta(days=7)  # longer than any FX weekend or holiday closure


def bar_spans(bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """First and last bar time per symbol (``symbol, first, last, bars``), UTC.

    Symbols without usable times (empty frame, no ``time`` column, all NaT) are left out:
    for survivorship they have no data, and the bar suite reports why.
    """
    rows = []
    for symbol, frame in bars.items():
        times = _times(frame)
        if not times.empty:
            rows.append((symbol, times.min(), times.max(), len(times)))
    spans = pd.DataFrame(rows, columns=["symbol", "first", "last", "bars"])
    for column in ("first", "last"):
        spans[column] = pd.to_datetime(spans[column], utc=True)
    return spans


def infer_bar(bars: Mapping[str, pd.DataFrame]) -> pd.Timedelta:
    """The bar length as the most common gap between consecutive bars (H1 data → 1 hour),
    H1's when unknowable."""
    gaps = pd.concat([_times(f).sort_values().diff().dropna() for f in bars.values()])
    gaps = gaps[gaps > pd.Timedelta(0)]
    return pd.Timedelta(gaps.mode().iloc[0]) if not gaps.empty else pd.Timedelta(bar_length("H1"))


def check_survivorship(
    bars: Mapping[str, pd.DataFrame],
    universe: pd.DataFrame,
    *,
    bar: pd.Timedelta | None = None,
    early_stop: pd.Timedelta = DEFAULT_EARLY_STOP,
    max_rows: int = 5,
) -> list[CheckFailure]:
    """Compare ``bars`` with the point-in-time ``universe``; return every finding.

    Args:
        bar: bar length, the tolerance at listing boundaries (inferred when None).
        early_stop: how far before the dataset's end a history may stop unexplained.
    """
    universe = coerce_universe(universe, source="universe").set_index("symbol")
    spans = bar_spans(bars).set_index("symbol")
    if spans.empty:
        return [CheckFailure("*", "missing_symbol", len(universe), [], "no symbol has bars")]
    bar = bar if bar is not None else infer_bar(bars)
    start, end = spans["first"].min(), spans["last"].max()
    failures: list[CheckFailure] = []

    def listed_in_span(symbol: str) -> bool:
        row = universe.loc[symbol]
        return bool(
            row["listed_from"] <= end
            and (pd.isna(row["delisted_at"]) or row["delisted_at"] > start)
        )

    for symbol in universe.index:
        if symbol not in spans.index and listed_in_span(symbol):
            row = universe.loc[symbol]
            listed = f"listed {row['listed_from'].isoformat()} → {_iso(row['delisted_at'])}"
            failures.append(CheckFailure(symbol, "missing_symbol", 0, [listed], "no bars"))
    for symbol in spans.index:
        if symbol not in universe.index:
            failures.append(
                CheckFailure(symbol, "not_in_universe", int(spans.loc[symbol, "bars"]), [])
            )
            continue
        failures.extend(_outside_listing(symbol, bars[symbol], universe.loc[symbol], bar, max_rows))
        failures.extend(
            _early_stop(symbol, spans.loc[symbol], universe.loc[symbol], end, early_stop)
        )
    failures.extend(_survivorship_bias(spans, universe, start, end))
    for failure in failures:
        logger.warning("survivorship: %s", failure.describe())
    return failures


def missing_share_by_month(
    bars: Mapping[str, pd.DataFrame], universe: pd.DataFrame
) -> pd.DataFrame:
    """Per calendar month (UTC) of the dataset: how much of the listed universe has no bars.

    Columns: ``month`` (``YYYY-MM``), ``listed`` (universe symbols listed at some point in the
    month), ``missing`` (of those, how many have no bar in the month), ``share``
    (missing / listed, 0 when nothing is listed) and ``symbols`` (the missing ones, comma
    separated). A survivor-only set shows a non-zero share in every month before a delisting.
    """
    columns = ["month", "listed", "missing", "share", "symbols"]
    spans = bar_spans(bars)
    if spans.empty:
        return pd.DataFrame(columns=columns)
    universe = coerce_universe(universe, source="universe")
    first, last = _month(spans["first"].min()), _month(spans["last"].max())
    months = list(range(first, last + 1))
    have = {s: set(np.unique(_month_array(_times(f)))) for s, f in bars.items()}
    rows = []
    for month in months:
        start = pd.Timestamp(year=month // 12, month=month % 12 + 1, day=1, tz="UTC")
        end = start + pd.offsets.MonthBegin(1)
        listed = universe[
            (universe["listed_from"] < end)
            & (universe["delisted_at"].isna() | (universe["delisted_at"] > start))
        ]["symbol"].tolist()
        missing = [s for s in listed if month not in have.get(s, set())]
        share = len(missing) / len(listed) if listed else 0.0
        label = f"{month // 12:04d}-{month % 12 + 1:02d}"
        rows.append((label, len(listed), len(missing), share, ",".join(missing)))
    return pd.DataFrame(rows, columns=columns)


def _month(stamp: pd.Timestamp) -> int:
    return stamp.year * 12 + stamp.month - 1


def _month_array(times: pd.Series) -> np.ndarray:
    months: np.ndarray = (times.dt.year * 12 + times.dt.month - 1).to_numpy()
    return months


def _outside_listing(
    symbol: str, frame: pd.DataFrame, listing: pd.Series, bar: pd.Timedelta, max_rows: int
) -> list[CheckFailure]:
    times = _times(frame)
    outside = times < listing["listed_from"] - bar
    if not pd.isna(listing["delisted_at"]):
        outside |= times > listing["delisted_at"] + bar
    if not outside.any():
        return []
    window = f"listed {listing['listed_from'].isoformat()} → {_iso(listing['delisted_at'])}"
    rows = [f"{t.isoformat()} (row {i})" for i, t in times[outside].head(max_rows).items()]
    return [CheckFailure(symbol, "outside_listing", int(outside.sum()), rows, window)]


def _early_stop(
    symbol: str,
    span: pd.Series,
    listing: pd.Series,
    end: pd.Timestamp,
    early_stop: pd.Timedelta,
) -> list[CheckFailure]:
    delisted = listing["delisted_at"]
    expected_end = end if pd.isna(delisted) else min(end, delisted)
    if expected_end - span["last"] <= early_stop:
        return []
    why = "no delisting recorded" if pd.isna(delisted) else f"delisted only {delisted.isoformat()}"
    detail = f"last bar {span['last'].isoformat()}, dataset ends {end.isoformat()}, {why}"
    return [CheckFailure(symbol, "early_stop", 1, [span["last"].isoformat()], detail)]


def _survivorship_bias(
    spans: pd.DataFrame, universe: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> list[CheckFailure]:
    """Set-level: only survivors present while the universe records delistings in the span."""
    delisted_in_span = universe.index[
        universe["delisted_at"].notna()
        & (universe["delisted_at"] > start)
        & (universe["delisted_at"] <= end)
        & (universe["listed_from"] < end)
    ]
    if delisted_in_span.empty:
        return []
    present = [s for s in spans.index if s in universe.index]
    alive = [s for s in present if pd.isna(universe.loc[s, "delisted_at"])]
    missing = [s for s in delisted_in_span if s not in spans.index]
    if not missing or len(alive) != len(present):
        return []
    detail = f"all {len(present)} symbols alive at {end.isoformat()}; delisted missing"
    return [CheckFailure("*", "survivorship_bias", len(missing), missing, detail)]


def _times(frame: pd.DataFrame) -> pd.Series:
    """The frame's bar times as UTC, NaT dropped; empty when there is no usable time column."""
    if "time" not in frame.columns:
        return pd.Series([], dtype="datetime64[ns, UTC]")
    times = frame["time"].reset_index(drop=True)
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        return pd.Series([], dtype="datetime64[ns, UTC]")
    in_utc: pd.Series = times.dt.tz_convert("UTC").dropna()
    return in_utc


def _iso(stamp: pd.Timestamp) -> str:
    return "still listed" if pd.isna(stamp) else stamp.isoformat()
