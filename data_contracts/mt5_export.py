"""MT5 "Export bars" files, read into UTC bars and imported into the store.

The terminal exports bars in the broker's *server* time. Most FX brokers run "New York
close" time — UTC+2 in winter, UTC+3 in summer, switching on the *US* DST dates — which no
IANA zone name describes, so the setting is explicit (``server_time``) and never guessed:

- ``"UTC"``; ``"UTC+3"``, ``"UTC-5"``, ``"UTC+5:30"``: fixed offsets;
- ``"NY+7"`` (any ``NY±N``): ``America/New_York`` wall time shifted by N hours.

The file format (header, fields, encodings) is described in ``mt5_export_format``, which
also writes bars back as an export, for tests and hand-offs.

Importing is faithful or refused: every bar line is stored exactly as written (converted to
UTC), or the whole file is refused with ``file:line`` so the operator can open the export at
that spot — a number that is not one, a price that is not finite (``inf``, ``nan``, beyond
the float range), a count that is not whole, a time given twice with different values (both
lines named), a bar that differs from the stored one. A line repeating another exactly is
counted and skipped. The file is read in chunks of lines, parsed vectorized into typed
columns, so memory follows the bars (about 70 bytes each), not Python strings of the text.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.mt5_export_format import (
    COLUMN_OF,
    DATE,
    HEADER,
    NON_FINITE,
    NUMBER,
    TIME,
    line_pattern,
)
from data_contracts.schema import INT_COLUMNS, PRICE_COLUMNS, RATE_COLUMNS, TIME_DTYPE
from data_contracts.server_time import ServerTime
from data_contracts.store import BarStore, ConflictingBarsError
from data_contracts.symbols import check_symbol

logger = logging.getLogger(__name__)

_LARGEST_COUNT = 2**53  # above this a float no longer holds every whole number
CHUNK_LINES = 10_000
_SHORTEST_LINE = 25  # bytes of the shortest bar line: daily, one-digit numbers, newline


class Mt5ExportError(Exception):
    """An export file is malformed or does not fit ``server_time``; names ``file:line``.

    Operator action: re-export the bars or correct the ``server_time`` setting.
    """


@dataclass(frozen=True)
class ExportRead:
    """An export file read whole: unique bars sorted by time, and where each came from."""

    bars: pd.DataFrame
    lines: np.ndarray  # the file line of each row of ``bars``
    rows_read: int  # bar lines in the file (blank lines not counted)
    duplicates: int  # lines repeating an earlier line's bar exactly (dropped)


@dataclass(frozen=True)
class ImportSummary:
    """What importing one export did: every bar line is read, then added or already present.

    An import is all or nothing: a line that cannot be stored faithfully refuses the whole
    file (``Mt5ExportError`` naming the line), so a finished import refused no row.
    """

    symbol: str
    rows_read: int
    added: int
    already_present: int
    duplicates: int
    refused: int = 0

    def describe(self) -> str:
        """One line for the operator."""
        return (
            f"{self.rows_read} rows read, {self.added} added, {self.already_present} already "
            f"present, {self.duplicates} identical duplicates skipped, {self.refused} refused"
        )


def read_mt5_export(path: Path, *, server_time: str) -> pd.DataFrame:
    """Parse an MT5 "Export bars" file into UTC bars in the MT5 rate layout, sorted by time.

    Raises:
        Mt5ExportError: see ``read_export``.
        ValueError: ``server_time`` is not a known setting.
    """
    return read_export(path, server_time=server_time).bars


def read_export(path: Path, *, server_time: str, chunk_lines: int = CHUNK_LINES) -> ExportRead:
    """Read an export in chunks of ``chunk_lines`` lines, so memory follows the bars, not the text.

    A line repeating another line's bar exactly is counted and dropped; lines in any time
    order are accepted (the bars come back sorted).

    Raises:
        Mt5ExportError: ``file:line`` of the first malformed line (header, field count, date,
            time, a number that is not one, not finite or not whole), of a server time that
            cannot exist under ``server_time``, or both lines of one bar time given twice with
            different values; or the file itself when it is not a readable file.
        ValueError: ``server_time`` is not a known setting.
    """
    path = Path(path)
    zone = ServerTime.parse(server_time)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist or is not a file"
        raise Mt5ExportError(f"{path}: {what}; expected an MT5 'Export bars' file")
    lines = _numbered_lines(path)
    try:
        _, header_line = next(lines, (1, ""))
    except OSError as e:  # unreadable: permissions, a device, a file gone since the check
        raise Mt5ExportError(f"{path}: cannot be read: {e.strerror or e}") from e
    header = tuple(header_line.strip().split("\t"))
    if not header_line.strip():
        raise Mt5ExportError(f"{path}:1: empty file; expected header {' '.join(HEADER)}")
    expected = HEADER if "<TIME>" in header else tuple(h for h in HEADER if h != "<TIME>")
    if header != expected:
        raise Mt5ExportError(
            f"{path}:1: header {_shown(header_line)} is not MT5's {' '.join(HEADER)}"
        )
    columns = _Columns(capacity=path.stat().st_size // _SHORTEST_LINE + 1)
    while chunk := list(itertools.islice(lines, chunk_lines)):
        columns.append(_parse_chunk(chunk, header, path))
    del chunk
    if not columns.size:
        raise Mt5ExportError(f"{path}:2: no bars after the header")
    line = columns.line[: columns.size]
    try:
        utc = zone.to_utc(pd.Series(columns.time[: columns.size]))
    except Exception as e:  # defensive: to_utc already maps failures to NaT
        raise Mt5ExportError(f"{path}: cannot convert server times ({server_time}): {e}") from e
    bad = utc.isna().to_numpy()
    if bad.any():
        raise Mt5ExportError(
            f"{path}:{line[int(np.flatnonzero(bad)[0])]}: server time does not exist (or is "
            f"ambiguous) under {server_time}"
        )
    frame = pd.concat(  # views of the typed blocks, no copy
        [
            pd.DataFrame(columns.prices[: columns.size], columns=list(PRICE_COLUMNS)),
            pd.DataFrame(columns.counts[: columns.size], columns=list(INT_COLUMNS)),
        ],
        axis=1,
        copy=False,
    )
    frame.insert(0, "time", utc.astype(TIME_DTYPE))
    frame["line"] = line
    del utc, columns
    return _drop_repeats(frame, path, server_time)


def import_export(
    path: Path, store: BarStore, symbol: str, *, timeframe: str, server_time: str
) -> ImportSummary:
    """Read an export and add its bars to ``store``: all of them faithfully, or none.

    Raises:
        BadSymbolError: ``symbol`` is not a symbol name (checked before the file is read).
        Mt5ExportError: the file cannot be stored faithfully; names ``file:line`` (a bar that
            differs from the stored bar at its time included). The store is left untouched.
    """
    check_symbol(symbol)
    read = read_export(path, server_time=server_time)
    try:
        addition = store.add_bars(symbol, timeframe, read.bars)
    except ConflictingBarsError as e:
        line = int(read.lines[e.rows[0]])
        raise Mt5ExportError(
            f"{path}:{line}: the {symbol} {timeframe} bar at {e.times[0].isoformat()} is stored "
            "with other values; stored bars are never replaced (re-export without this bar, "
            "or check the server_time setting)"
        ) from e
    summary = ImportSummary(
        symbol,
        rows_read=read.rows_read,
        added=addition.added,
        already_present=addition.already_present,
        duplicates=read.duplicates + addition.duplicates,
    )
    logger.info("imported %s from %s: %s", symbol, path, summary.describe())
    return summary


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` without its line end, decoded as MT5 writes (UTF-16 or UTF-8).

    Lines end at ``\\n`` (one ``\\r`` before it is dropped). UTF-8 is decoded line by line so
    undecodable bytes are named at their line.
    """
    with path.open("rb") as raw:
        utf16 = raw.read(2) in (b"\xff\xfe", b"\xfe\xff")
        raw.seek(0)
        if utf16:
            number = 0
            try:
                for number, line in enumerate(
                    io.TextIOWrapper(raw, encoding="utf-16", newline="\n"), start=1
                ):
                    yield number, line.removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError as e:  # decoded in blocks: the line is where it starts
                raise Mt5ExportError(
                    f"{path}:{number + 1}: not UTF-16 text from here on ({e.reason}); "
                    "expected an MT5 'Export bars' file"
                ) from e
            return
        for number, data in enumerate(raw, start=1):
            try:
                line = data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise Mt5ExportError(
                    f"{path}:{number}: not UTF-8 or UTF-16 text ({e.reason} at byte {e.start} "
                    "of the line); expected an MT5 'Export bars' file"
                ) from e
            yield number, line.removesuffix("\n").removesuffix("\r")


def _parse_chunk(
    chunk: list[tuple[int, str]], header: tuple[str, ...], path: Path
) -> dict[str, np.ndarray]:
    """Parse numbered lines into server wall times, prices and counts, or name the bad line.

    One regular expression per line checks the shape (fields, date, time, numbers); only when
    a line fails it are the fields checked one by one, to say which is wrong.
    """
    body = pd.Series([text for _, text in chunk], dtype="object")
    line_no = np.fromiter((number for number, _ in chunk), dtype=np.int64, count=len(chunk))
    keep = (body.str.strip() != "").to_numpy()
    body, line_no = body[keep].reset_index(drop=True), line_no[keep]
    if body.empty:
        return {"line": line_no.astype(np.int32)}
    shaped = body.str.fullmatch(line_pattern(header)).to_numpy(dtype=bool)
    if not shaped.all():
        _name_bad_line(body[~shaped].reset_index(drop=True), line_no[~shaped], header, path)
    fields = body.str.split("\t", expand=True)
    fields.columns = list(header)
    clock = fields["<TIME>"] if "<TIME>" in header else pd.Series("00:00:00", index=body.index)
    clock = clock.where(clock.str.len() == 8, clock + ":00")
    wall = pd.to_datetime(
        fields["<DATE>"] + " " + clock, format="%Y.%m.%d %H:%M:%S", errors="coerce"
    )
    _fail(wall.isna(), "date/time does not exist", body, line_no, path)
    columns: dict[str, pd.Series] = {"time": wall}
    for token, column in COLUMN_OF.items():
        numbers = fields[token].astype("float64")  # Python's float(): the exact nearest double
        _fail(
            ~np.isfinite(numbers),
            f"{token} is not finite (beyond the float range)",
            body,
            line_no,
            path,
        )
        if column in PRICE_COLUMNS:
            columns[column] = numbers
            continue
        _fail(numbers != np.round(numbers), f"{token} is not a whole number", body, line_no, path)
        _fail(
            numbers.abs() > _LARGEST_COUNT, f"{token} is too large for a count", body, line_no, path
        )
        columns[column] = numbers.astype("int64")
    parsed = {column: columns[column].to_numpy() for column in RATE_COLUMNS}
    parsed["line"] = line_no.astype(np.int32)
    return parsed


class _Columns:
    """The bars parsed so far, in typed blocks allocated once for the most a file can hold.

    ``capacity`` rows is an upper bound (file size over the shortest bar line), so the blocks
    never grow; pages never written are never resident, so the bound costs address space,
    not memory. Each chunk's arrays are copied in and let go: the bars exist once.
    """

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.time = np.empty(capacity, dtype="datetime64[ns]")
        self.prices = np.empty((capacity, len(PRICE_COLUMNS)), dtype=np.float64)
        self.counts = np.empty((capacity, len(INT_COLUMNS)), dtype=np.int64)
        self.line = np.empty(capacity, dtype=np.int32)

    def append(self, parsed: dict[str, np.ndarray]) -> None:
        """Copy one chunk's columns in after the rows already there."""
        start, stop = self.size, self.size + len(parsed["line"])
        if start == stop:
            return
        self.time[start:stop] = parsed["time"]
        self.line[start:stop] = parsed["line"]
        for j, column in enumerate(PRICE_COLUMNS):
            self.prices[start:stop, j] = parsed[column]
        for j, column in enumerate(INT_COLUMNS):
            self.counts[start:stop, j] = parsed[column]
        self.size = stop


def _name_bad_line(
    body: pd.Series, line_no: np.ndarray, header: tuple[str, ...], path: Path
) -> None:
    """Raise ``Mt5ExportError`` saying what is wrong with the first of these misshapen lines."""
    _fail(
        body.str.count("\t") != len(header) - 1,
        f"expected {len(header)} tab-separated fields",
        body,
        line_no,
        path,
    )
    fields = body.str.split("\t", expand=True)
    fields.columns = list(header)
    _fail(
        ~fields["<DATE>"].str.fullmatch(DATE), "bad <DATE> (want YYYY.MM.DD)", body, line_no, path
    )
    if "<TIME>" in header:
        bad_time = ~fields["<TIME>"].str.fullmatch(TIME)
        _fail(bad_time, "bad <TIME> (want HH:MM or HH:MM:SS)", body, line_no, path)
    for token in COLUMN_OF:
        text = fields[token]
        _fail(
            text.str.fullmatch(NON_FINITE, case=False),
            f"{token} is not finite",
            body,
            line_no,
            path,
        )
        _fail(~text.str.fullmatch(NUMBER), f"{token} is not a number", body, line_no, path)
    _fail(np.ones(len(body), dtype=bool), "not a bar line", body, line_no, path)


def _fail(
    mask: pd.Series | np.ndarray, what: str, body: pd.Series, line_no: np.ndarray, path: Path
) -> None:
    """Raise ``Mt5ExportError`` at the first line where ``mask`` holds, naming file:line."""
    flags = np.asarray(mask, dtype=bool)
    if flags.any():
        row = int(np.flatnonzero(flags)[0])
        raise Mt5ExportError(f"{path}:{line_no[row]}: {what}: {_shown(body[row])}")


def _shown(line: str, limit: int = 160) -> str:
    """A line as the error shows it: quoted, cut short (a file without line ends is one line)."""
    return repr(line) if len(line) <= limit else f"{line[:limit]!r}… ({len(line)} characters)"


def _drop_repeats(frame: pd.DataFrame, path: Path, server_time: str) -> ExportRead:
    """Sort by time; drop lines repeating a bar exactly; refuse a time given two readings.

    Copies the bars only when they need it (out of order, or repeated lines): an export in
    time order, the usual case, passes through without a second copy of its columns.
    """
    rows_read = len(frame)
    times = np.asarray(frame["time"].values)
    if len(times) > 1 and not (times[1:] >= times[:-1]).all():
        order = np.argsort(times, kind="stable")  # stable: equal times stay in line order
        frame = frame.take(order).reset_index(drop=True)
        times = np.asarray(frame["time"].values)
    repeated = np.concatenate([[False], times[1:] == times[:-1]])
    if repeated.any():
        differs = np.zeros(len(frame), dtype=bool)
        for column in COLUMN_OF.values():
            values = frame[column].to_numpy()
            differs[1:] |= values[1:] != values[:-1]
        conflict = repeated & differs
        if conflict.any():
            at = int(np.flatnonzero(conflict)[0])
            first, second = int(frame["line"].iloc[at - 1]), int(frame["line"].iloc[at])
            raise Mt5ExportError(
                f"{path}:{second}: bar time {frame['time'].iloc[at].isoformat()} (UTC, server "
                f"time {server_time}) also on line {first} with different values: "
                f"{path}:{first} and {path}:{second}"
            )
        frame = frame[~repeated].reset_index(drop=True)
    lines = frame.pop("line").to_numpy()
    bars = frame if tuple(frame.columns) == RATE_COLUMNS else frame[list(RATE_COLUMNS)]
    logger.info("read %d bars from %s (server time %s)", len(bars), path, server_time)
    return ExportRead(bars, lines, rows_read=rows_read, duplicates=int(repeated.sum()))
