"""The raw bar store: hive-partitioned parquet under ``TATE_HOME/data``, append-only.

Raw data is evidence. A model's training run records ``digest()`` of the files it read, so
files are never rewritten: ``write_bars`` only adds a new file holding rows newer than the
newest stored row, which also makes re-importing the same export a no-op. A write goes to a
temporary file in the same directory and is renamed into place, so a crash or error leaves
the store exactly as it was.

Layout: ``bars/timeframe=<TF>/symbol=<SYMBOL>/<first>--<last>.parquet`` (UTC times in the
name, so names sort in time order) and ``universe.csv``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from data_contracts.schema import (
    RATE_COLUMNS,
    UNIVERSE_COLUMNS,
    check_timeframe,
    coerce_bars,
    coerce_universe,
)

logger = logging.getLogger(__name__)

_NAME_FORMAT = "%Y%m%dT%H%M%SZ"
_TMP_SUFFIX = ".tmp"


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

    Operator action: write one (`tate ingest --source sim` writes the synthetic market's; for
    exported data list ``symbol, listed_from, delisted_at`` per symbol).
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
        return self.root / "bars" / f"timeframe={timeframe}" / f"symbol={symbol}"

    def files(self, symbol: str, timeframe: str) -> list[Path]:
        """Stored parquet files of one symbol, oldest first (names sort by time)."""
        directory = self.symbol_dir(symbol, timeframe)
        return sorted(directory.glob("*.parquet")) if directory.is_dir() else []

    def symbols(self, timeframe: str) -> list[str]:
        """Symbols with at least one stored file for ``timeframe``, sorted."""
        base = self.root / "bars" / f"timeframe={check_timeframe(timeframe)}"
        if not base.is_dir():
            return []
        return sorted(
            d.name.removeprefix("symbol=")
            for d in base.iterdir()
            if d.is_dir() and d.name.startswith("symbol=") and any(d.glob("*.parquet"))
        )

    def require_symbols(self, timeframe: str, wanted: Iterable[str] | None = None) -> list[str]:
        """The symbols to read: ``wanted`` when given, else every stored one; none may be missing.

        Cheap (file names only), so a command checks its symbols before it starts anything.

        Raises:
            EmptyStoreError: nothing is stored for ``timeframe``.
            UnknownSymbolError: a ``wanted`` symbol has no stored bars.
        """
        stored = self.symbols(timeframe)
        if not stored:
            raise EmptyStoreError(
                f"no bars stored for timeframe {timeframe!r} under {self.root}; "
                "run `tate ingest` first"
            )
        names = list(wanted) if wanted else stored
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
        times = pd.read_parquet(files[-1], columns=["time"])["time"]
        return pd.Timestamp(times.max()).tz_convert("UTC")

    def write_bars(self, symbol: str, timeframe: str, bars: pd.DataFrame) -> Path | None:
        """Append the rows of ``bars`` newer than what is stored, as one new parquet file.

        Returns:
            The new file, or None when no row is newer (e.g. the same export imported again).

        Raises:
            BarSchemaError: ``bars`` lacks the rate layout (nothing is written).
        """
        frame = coerce_bars(bars, source=f"bars for {symbol} {timeframe}")
        frame = frame.sort_values("time", kind="stable").drop_duplicates("time", keep="last")
        last = self.last_time(symbol, timeframe)
        if last is not None:
            frame = frame[frame["time"] > last]
        if frame.empty:
            logger.info("no new bars for %s %s (stored up to %s)", symbol, timeframe, last)
            return None
        frame = frame.reset_index(drop=True)
        first_time, last_time = frame["time"].iloc[0], frame["time"].iloc[-1]
        name = f"{first_time.strftime(_NAME_FORMAT)}--{last_time.strftime(_NAME_FORMAT)}.parquet"
        target = self.symbol_dir(symbol, timeframe) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, lambda tmp: _write_parquet(frame, tmp))
        logger.info("stored %d bars for %s %s in %s", len(frame), symbol, timeframe, target)
        return target

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
        frames = [pd.read_parquet(f, columns=list(RATE_COLUMNS)) for f in files]
        bars = coerce_bars(pd.concat(frames, ignore_index=True), source=str(files[0].parent))
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
        _write_atomically(self.universe_path, lambda tmp: text.to_csv(tmp, index=False))
        return self.universe_path

    def read_universe(self) -> pd.DataFrame:
        """The point-in-time universe (``symbol, listed_from, delisted_at``; NaT = listed).

        Raises:
            NoUniverseError: no universe has been written under this root.
        """
        if not self.universe_path.is_file():
            raise NoUniverseError(f"no universe at {self.universe_path}; write one first")
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


def _utc_or_none(value: datetime | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name}={value!r} is naive; pass a tz-aware datetime")
    return stamp.tz_convert("UTC")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False, engine="pyarrow")


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Write via ``write(tmp_path)`` into a temp file beside ``target``, then rename.

    Same directory, so ``os.replace`` is an atomic rename; on any error the temp file is
    removed and the target is untouched.
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
