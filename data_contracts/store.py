"""The raw bar store: hive-partitioned parquet under ``TATE_HOME/data``, append-only.

Raw data is evidence. A model's training run records ``digest()`` of the files it read, so
files are never rewritten: ``add_bars`` only adds a new file holding the rows the store lacks,
which also makes re-importing the same export a no-op. A row whose time is already stored
must equal the stored row; one that differs is refused (``ConflictingBarsError``), as is an
input that holds one time twice with different values: which of two readings is true is the
operator's call, never the store's. A write goes to a temporary file in the same directory
and is renamed into place, so a crash or a refusal leaves the store exactly as it was.

Symbols become folder names, so a symbol must match ``VALID_SYMBOL_NAME`` (letters, digits,
``.``, ``_``, ``-``; 1 to 32 characters; not ``.`` or ``..``): it is checked before any path
is built, so ``../x`` or ``EUR/USD`` can never reach outside or nest inside the store.

Layout: ``bars/timeframe=<TF>/symbol=<SYMBOL>/<first>--<last>.parquet`` (UTC times in the
name, so names sort by first time) and ``universe.csv``. How a file is named, read and written
is ``data_contracts.bar_files``; how two readings of a bar are compared, ``bar_readings``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.bar_files import (
    FILE_TIME_FORMAT,
    file_name,
    file_span,
    in_store_layout,
    read_bar_files,
    write_atomically,
    write_parquet,
)
from data_contracts.bar_readings import differs_from_previous, differs_from_stored
from data_contracts.schema import UNIVERSE_COLUMNS, check_timeframe, coerce_bars, coerce_universe
from data_contracts.symbols import VALID_SYMBOL_NAME, check_symbol

logger = logging.getLogger(__name__)


class ConflictingBarsError(Exception):
    """Two readings of one bar time differ (in the input, or input against the stored bar).

    Nothing is written. ``times`` holds the bar time(s) at fault and ``rows`` the input row(s)
    (positions in the frame passed in), so a caller can name the lines of a file.
    Operator action: find out which reading is right; re-export the file without the wrong
    one. The stored bars are evidence and are never replaced.
    """

    def __init__(self, message: str, *, times: list[pd.Timestamp], rows: list[int]) -> None:
        super().__init__(message)
        self.times, self.rows = times, rows


@dataclass(frozen=True)
class Addition:
    """What ``add_bars`` did: the new file (None when nothing was new) and the row counts."""

    path: Path | None
    added: int
    already_present: int
    duplicates: int


class UnknownSymbolError(KeyError):
    """No bars are stored for a symbol/timeframe; the message lists the symbols that are.

    Operator action: ingest the symbol first, or fix the symbol name in the configuration.
    """

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else ""


class EmptyRangeError(Exception):
    """A requested time range selects no bars (or start >= end); the message names both.

    Operator action: widen the range or ingest the missing period.
    """


class EmptyStoreError(Exception):
    """No bars at all are stored for the timeframe; the message names the store's folder.

    Operator action: run `tate ingest` first (or point `TATE_HOME` at the store you meant).
    """


class NoUniverseError(FileNotFoundError):
    """The point-in-time universe (``universe.csv``) is missing; the message names its path.

    Operator action: `tate ingest` adds every symbol it imports (the synthetic market comes
    with its own); `tate universe set SYMBOL --listed-from … --by WHO` adds or corrects one.
    """


class BarStore:
    """Read and append bars and the point-in-time universe under one data root."""

    def __init__(self, root: Path) -> None:
        """Args: root: ``TATE_HOME/data``. Nothing is created until the first write."""
        self.root = Path(root)

    @property
    def universe_path(self) -> Path:
        """``<root>/universe.csv``."""
        return self.root / "universe.csv"

    def symbol_dir(self, symbol: str, timeframe: str) -> Path:
        """Directory holding the parquet files of one symbol and timeframe."""
        check_timeframe(timeframe)
        return self.root / "bars" / f"timeframe={timeframe}" / f"symbol={check_symbol(symbol)}"

    def files(self, symbol: str, timeframe: str) -> list[Path]:
        """Stored parquet files of one symbol, oldest first (names sort by time)."""
        directory = self.symbol_dir(symbol, timeframe)
        return sorted(directory.glob("*.parquet")) if directory.is_dir() else []

    def symbols(self, timeframe: str) -> list[str]:
        """Symbols with at least one stored file for ``timeframe``, sorted."""
        base = self.root / "bars" / f"timeframe={check_timeframe(timeframe)}"
        if not base.is_dir():
            return []
        names = (
            d.name.removeprefix("symbol=")
            for d in base.iterdir()
            if d.is_dir() and d.name.startswith("symbol=") and any(d.glob("*.parquet"))
        )
        # a folder left by an older tate under a name now refused is not a symbol
        return sorted(n for n in names if VALID_SYMBOL_NAME.fullmatch(n) and n not in (".", ".."))

    def require_symbols(self, timeframe: str, wanted: Iterable[str] | None = None) -> list[str]:
        """The symbols to read: ``wanted`` when given, else every stored one; none may be missing.

        Cheap (file names only), so a command checks its symbols before it starts anything.

        Raises:
            BadSymbolError: a ``wanted`` name is not a symbol name.
            EmptyStoreError: nothing is stored for ``timeframe``.
            UnknownSymbolError: a ``wanted`` symbol has no stored bars.
        """
        names = [check_symbol(s) for s in wanted] if wanted else None
        stored = self.symbols(timeframe)
        if not stored:
            raise EmptyStoreError(
                f"no bars stored for timeframe {timeframe!r} under {self.root}; "
                "run `tate ingest` first"
            )
        names = names or stored
        for symbol in names:
            if symbol not in stored:
                raise UnknownSymbolError(
                    f"no bars stored for symbol {symbol!r} timeframe {timeframe!r} under "
                    f"{self.root}; known symbols for {timeframe}: {stored}"
                )
        return names

    def last_time(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """Newest stored bar time, or None when nothing is stored."""
        files = self.files(symbol, timeframe)
        if not files:
            return None
        # names sort by first time; a file that filled a gap may sort after a newer one
        newest = max(files, key=lambda f: file_span(f)[1])
        times = pd.read_parquet(newest, columns=["time"])["time"]
        return pd.Timestamp(times.max()).tz_convert("UTC")

    def write_bars(self, symbol: str, timeframe: str, bars: pd.DataFrame) -> Path | None:
        """``add_bars``, returning only the new file (None when every row was stored already)."""
        return self.add_bars(symbol, timeframe, bars).path

    def add_bars(self, symbol: str, timeframe: str, bars: pd.DataFrame) -> Addition:
        """Store the rows of ``bars`` the store lacks, as one new parquet file.

        A row whose time is stored must equal the stored row (it is counted as already
        present); an input row repeating another's time must equal it (counted as a
        duplicate). Rows older than the newest stored one are added when their time is not
        stored (an export that fills a gap). ``bars`` is never modified, and bars already in
        the store's layout and time order are written without being copied first.

        Raises:
            BadSymbolError: ``symbol`` is not a symbol name (nothing is read or written).
            BarSchemaError: ``bars`` lacks the rate layout (nothing is written).
            ConflictingBarsError: a time appears with different values (nothing is written).
        """
        self.symbol_dir(symbol, timeframe)  # the name is checked before anything else
        frame = (
            bars
            if in_store_layout(bars)
            else coerce_bars(bars, source=f"bars for {symbol} {timeframe}")
        )
        rows = np.arange(len(frame))
        times = np.asarray(frame["time"].values)
        if len(times) > 1 and not (times[1:] >= times[:-1]).all():
            rows = np.argsort(times, kind="stable")  # stable: a repeated time keeps input order
            frame = frame.take(rows)
            times = np.asarray(frame["time"].values)
        repeated = np.concatenate([[False], times[1:] == times[:-1]])[: len(times)]
        _refuse_conflicts(frame, repeated, rows, f"{symbol} {timeframe}: input")
        if repeated.any():
            frame, rows = frame[~repeated], rows[~repeated]
        present = self._stored_matches(symbol, timeframe, frame, rows)
        fresh = frame[~present] if present.any() else frame
        counts = {
            "added": len(fresh),
            "already_present": int(present.sum()),
            "duplicates": int(repeated.sum()),
        }
        if fresh.empty:
            logger.info("no new bars for %s %s", symbol, timeframe)
            return Addition(None, **counts)
        name = file_name(fresh["time"].iloc[0], fresh["time"].iloc[-1])
        # fresh rows' first time is not stored, so no stored file has this name
        target = self.symbol_dir(symbol, timeframe) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, lambda tmp: write_parquet(fresh, tmp))
        logger.info("stored %d bars for %s %s in %s", len(fresh), symbol, timeframe, target)
        return Addition(target, **counts)

    def _stored_matches(
        self, symbol: str, timeframe: str, frame: pd.DataFrame, rows: np.ndarray
    ) -> np.ndarray:
        """Which rows of ``frame`` (unique, sorted times) are stored with equal values.

        Reads only the stored files whose time range overlaps the input's, so importing a new
        month does not load years of history.

        Raises:
            ConflictingBarsError: a row's time is stored with other values.
        """
        present = np.zeros(len(frame), dtype=bool)
        if frame.empty:
            return present
        lo = frame["time"].iloc[0].strftime(FILE_TIME_FORMAT)
        hi = frame["time"].iloc[-1].strftime(FILE_TIME_FORMAT)
        overlapping = [
            f
            for f in self.files(symbol, timeframe)
            if file_span(f)[0] <= hi and file_span(f)[1] >= lo
        ]
        if not overlapping:
            return present
        stored = read_bar_files(overlapping)
        stored = stored.drop_duplicates("time", keep="first")  # stores from before this check
        at = pd.Index(stored["time"].values).get_indexer(pd.Index(np.asarray(frame["time"].values)))
        present = at >= 0
        differs = differs_from_stored(frame, stored, at)
        if differs.any():
            first = int(np.flatnonzero(differs)[0])
            time = frame["time"].iloc[first]
            raise ConflictingBarsError(
                f"{symbol} {timeframe}: the bar at {time.isoformat()} is stored with other "
                "values; stored bars are never replaced",
                times=[time],
                rows=[int(rows[first])],
            )
        return present

    def read_bars(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Stored bars with ``start <= time < end`` (either bound optional), sorted, unique.

        Raises:
            UnknownSymbolError: nothing stored for ``symbol``/``timeframe``.
            EmptyRangeError: ``start >= end`` or the range selects no bar.
        """
        files = self.files(symbol, timeframe)
        if not files:
            known = self.symbols(timeframe)
            raise UnknownSymbolError(
                f"no bars stored for symbol {symbol!r} timeframe {timeframe!r} under "
                f"{self.root}; known symbols for {timeframe}: {known or 'none'}"
            )
        lo, hi = _utc_or_none(start, "start"), _utc_or_none(end, "end")
        if lo is not None and hi is not None and lo >= hi:
            raise EmptyRangeError(f"{symbol} {timeframe}: empty range, start {lo} >= end {hi}")
        bars = read_bar_files(files)
        bars = bars.sort_values("time", kind="stable").drop_duplicates("time", keep="first")
        stored = (bars["time"].iloc[0], bars["time"].iloc[-1])
        mask = pd.Series(True, index=bars.index)
        if lo is not None:
            mask &= bars["time"] >= lo
        if hi is not None:
            mask &= bars["time"] < hi
        bars = bars[mask].reset_index(drop=True)
        if bars.empty:
            raise EmptyRangeError(
                f"{symbol} {timeframe}: no bars in [{lo or '-inf'}, {hi or '+inf'}); "
                f"stored range is [{stored[0]}, {stored[1]}]"
            )
        return bars

    def read_bars_set(
        self, timeframe: str, symbols: Iterable[str] | None = None
    ) -> dict[str, pd.DataFrame]:
        """All bars of ``symbols`` (default: every stored symbol) keyed by symbol."""
        names = list(symbols) if symbols is not None else self.symbols(timeframe)
        return {s: self.read_bars(s, timeframe) for s in names}

    def write_universe(self, df: pd.DataFrame) -> Path:
        """Replace ``universe.csv`` atomically (ISO UTC times, empty ``delisted_at`` = listed).

        The universe is reference data maintained by a person, not raw evidence, so it is
        replaced as a whole rather than appended.
        """
        universe = coerce_universe(df, source="universe")
        text = pd.DataFrame(
            {
                "symbol": universe["symbol"],
                "listed_from": universe["listed_from"].map(lambda t: t.isoformat()),
                "delisted_at": universe["delisted_at"].map(
                    lambda t: "" if pd.isna(t) else t.isoformat()
                ),
            }
        )
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomically(self.universe_path, lambda tmp: text.to_csv(tmp, index=False))
        return self.universe_path

    def read_universe(self) -> pd.DataFrame:
        """The point-in-time universe (``symbol, listed_from, delisted_at``; NaT = listed).

        Raises:
            NoUniverseError: no universe has been written under this root.
        """
        if not self.universe_path.is_file():
            raise NoUniverseError(
                f"no universe at {self.universe_path}; `tate ingest` starts one, "
                "`tate universe set` corrects it"
            )
        raw = pd.read_csv(self.universe_path, dtype=str, keep_default_na=False)
        return coerce_universe(raw[list(UNIVERSE_COLUMNS)], source=str(self.universe_path))

    def digest(self, timeframe: str, symbols: Iterable[str]) -> str:
        """sha256 over the stored files' names and bytes: the data version a run trained on.

        Stable: files are never rewritten, so the digest changes only when bars are added.

        Raises:
            UnknownSymbolError: a symbol has no stored files.
        """
        sha = hashlib.sha256()
        for symbol in sorted(set(symbols)):
            files = self.files(symbol, timeframe)
            if not files:
                raise UnknownSymbolError(
                    f"no bars stored for symbol {symbol!r} timeframe {timeframe!r}; "
                    f"known symbols: {self.symbols(timeframe) or 'none'}"
                )
            for path in files:
                sha.update(f"{timeframe}/{symbol}/{path.name}\0".encode())
                sha.update(path.read_bytes())
        return sha.hexdigest()


def _refuse_conflicts(
    frame: pd.DataFrame, repeated: np.ndarray, rows: np.ndarray, source: str
) -> None:
    """Raise ``ConflictingBarsError`` at the first repeated time whose values differ."""
    if not repeated.any():
        return
    conflict = repeated & differs_from_previous(frame)
    if conflict.any():
        at = int(np.flatnonzero(conflict)[0])
        time = frame["time"].iloc[at]
        pair = [int(rows[at - 1]), int(rows[at])]
        raise ConflictingBarsError(
            f"{source} holds the bar at {time.isoformat()} twice with different values "
            f"(rows {pair[0]} and {pair[1]})",
            times=[time],
            rows=pair,
        )


def _utc_or_none(value: datetime | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name}={value!r} is naive; pass a tz-aware datetime")
    return stamp.tz_convert("UTC")
