"""MT5 "Export bars" files, read into UTC bars (and written back, for tests and hand-offs).

The terminal exports bars in the broker's *server* time. Most FX brokers run "New York
close" time — UTC+2 in winter, UTC+3 in summer, switching on the *US* DST dates — which no
IANA zone name describes, so the setting is explicit (``server_time``) and never guessed:

- ``"UTC"``; ``"UTC+3"``, ``"UTC-5"``, ``"UTC+5:30"``: fixed offsets;
- ``"NY+7"`` (any ``NY±N``): ``America/New_York`` wall time shifted by N hours.

File format: tab-separated, header ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL>
<SPREAD>`` (``<TIME>`` absent in daily exports), dates ``2017.04.19``, times ``13:00:00`` or
``13:00``, ``\\r\\n`` line ends. Parsing is vectorized; the first bad line is reported as
``file:line`` so the operator can open the export at that spot.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.schema import PRICE_COLUMNS, RATE_COLUMNS, coerce_bars

logger = logging.getLogger(__name__)

HEADER: tuple[str, ...] = (
    "<DATE>",
    "<TIME>",
    "<OPEN>",
    "<HIGH>",
    "<LOW>",
    "<CLOSE>",
    "<TICKVOL>",
    "<VOL>",
    "<SPREAD>",
)
_COLUMN_OF = {
    "<OPEN>": "open",
    "<HIGH>": "high",
    "<LOW>": "low",
    "<CLOSE>": "close",
    "<TICKVOL>": "tick_volume",
    "<VOL>": "real_volume",
    "<SPREAD>": "spread",
}
_SERVER_TIME = re.compile(r"^(UTC|NY)(?:([+-])(\d{1,2})(?::(\d{2}))?)?$")
_DATE = r"\d{4}\.\d{2}\.\d{2}"
_TIME = r"\d{2}:\d{2}(?::\d{2})?"
NEW_YORK = "America/New_York"


class Mt5ExportError(Exception):
    """An export file is malformed or does not fit ``server_time``; names ``file:line``.

    Operator action: re-export the bars or correct the ``server_time`` setting.
    """


@dataclass(frozen=True)
class ServerTime:
    """A parsed ``server_time`` setting: a base zone (UTC or New York) plus a fixed shift."""

    base: str  # "UTC" or NEW_YORK
    shift: pd.Timedelta

    @classmethod
    def parse(cls, setting: str) -> ServerTime:
        """Parse ``"UTC"``, ``"UTC±H[:MM]"`` or ``"NY±H[:MM]"``; raise ValueError otherwise."""
        match = _SERVER_TIME.match(setting.strip().upper())
        if not match or (match.group(1) == "NY" and not match.group(2)):
            raise ValueError(
                f"server_time {setting!r} not understood; use 'UTC', 'UTC+3', 'UTC-5' or 'NY+7'"
            )
        zone, sign, hours, minutes = match.groups()
        shift = pd.Timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        if shift > pd.Timedelta(hours=14):
            raise ValueError(f"server_time {setting!r}: offset beyond 14 hours")
        return cls(NEW_YORK if zone == "NY" else "UTC", -shift if sign == "-" else shift)

    def to_utc(self, wall: pd.Series) -> pd.Series:
        """Naive server wall times → UTC. Raises ValueError for times the zone never shows."""
        local = wall - self.shift
        if self.base == "UTC":
            return local.dt.tz_localize("UTC")
        try:
            aware = local.dt.tz_localize(self.base, ambiguous="infer", nonexistent="raise")
        except Exception:  # pytz/zoneinfo raise several types; fall back to NaT per row
            aware = local.dt.tz_localize(self.base, ambiguous="NaT", nonexistent="NaT")
        return aware.dt.tz_convert("UTC")

    def from_utc(self, utc: pd.Series) -> pd.Series:
        """UTC times → naive server wall times (the inverse of ``to_utc``)."""
        wall: pd.Series = utc.dt.tz_convert(self.base).dt.tz_localize(None) + self.shift
        return wall


def server_to_utc(wall: pd.Series, server_time: str) -> pd.Series:
    """Convert naive server wall times to UTC (e.g. ``copy_rates_*`` times seen as naive)."""
    return ServerTime.parse(server_time).to_utc(wall).astype("datetime64[ns, UTC]")


def utc_to_server(utc: pd.Series, server_time: str) -> pd.Series:
    """Convert UTC times to naive server wall times."""
    return ServerTime.parse(server_time).from_utc(utc)


def read_mt5_export(path: Path, *, server_time: str) -> pd.DataFrame:
    """Parse an MT5 "Export bars" file into UTC bars in the MT5 rate layout.

    Raises:
        Mt5ExportError: ``file:line`` of the first malformed line (header, field count, date,
            time, number) or of a server time that cannot exist under ``server_time``.
        ValueError: ``server_time`` is not a known setting.
    """
    path = Path(path)
    zone = ServerTime.parse(server_time)
    try:
        lines = _decode(path.read_bytes()).splitlines()
    except UnicodeDecodeError as e:
        raise Mt5ExportError(
            f"{path}:1: not UTF-8 or UTF-16 text ({e.reason} at byte {e.start}); "
            "expected an MT5 'Export bars' file"
        ) from e
    if not lines or not lines[0].strip():
        raise Mt5ExportError(f"{path}:1: empty file; expected header {' '.join(HEADER)}")
    header = tuple(lines[0].strip().split("\t"))
    expected = HEADER if "<TIME>" in header else tuple(h for h in HEADER if h != "<TIME>")
    if header != expected:
        raise Mt5ExportError(f"{path}:1: header {header} is not MT5's {' '.join(HEADER)}")
    body = pd.Series(lines[1:], dtype="object")
    line_no = pd.Series(np.arange(2, len(lines) + 1))
    keep = body.str.strip() != ""
    body, line_no = body[keep].reset_index(drop=True), line_no[keep].reset_index(drop=True)

    def fail(mask: pd.Series, what: str) -> None:
        if mask.any():
            row = int(np.flatnonzero(mask.to_numpy())[0])
            raise Mt5ExportError(f"{path}:{line_no[row]}: {what}: {body[row]!r}")

    if body.empty:
        raise Mt5ExportError(f"{path}:2: no bars after the header")
    fail(body.str.count("\t") != len(header) - 1, f"expected {len(header)} tab-separated fields")
    fields = body.str.split("\t", expand=True)
    fields.columns = list(header)
    fail(~fields["<DATE>"].str.fullmatch(_DATE), "bad <DATE> (want YYYY.MM.DD)")
    clock = fields["<TIME>"] if "<TIME>" in header else pd.Series("00:00:00", index=body.index)
    fail(~clock.str.fullmatch(_TIME), "bad <TIME> (want HH:MM or HH:MM:SS)")
    clock = clock.where(clock.str.len() == 8, clock + ":00")
    wall = pd.to_datetime(
        fields["<DATE>"] + " " + clock, format="%Y.%m.%d %H:%M:%S", errors="coerce"
    )
    fail(wall.isna(), "date/time does not exist")

    frame = pd.DataFrame(index=body.index)
    for token, column in _COLUMN_OF.items():
        numbers = pd.to_numeric(fields[token], errors="coerce")
        fail(numbers.isna(), f"{token} is not a number")
        if column not in PRICE_COLUMNS:
            fail(numbers != np.round(numbers), f"{token} is not a whole number")
        frame[column] = numbers
    try:
        utc = zone.to_utc(wall)
    except Exception as e:  # defensive: to_utc already maps failures to NaT
        raise Mt5ExportError(f"{path}: cannot convert server times ({server_time}): {e}") from e
    fail(utc.isna(), f"server time does not exist (or is ambiguous) under {server_time}")
    frame["time"] = utc
    bars = coerce_bars(frame[list(RATE_COLUMNS)], source=str(path))
    logger.info("read %d bars from %s (server time %s)", len(bars), path, server_time)
    return bars


def write_mt5_export(bars: pd.DataFrame, path: Path, *, server_time: str) -> Path:
    """Write UTC bars as an MT5 "Export bars" file in ``server_time`` (inverse of the reader).

    Prices use Python's shortest round-trip float text, so reading back is exact.
    """
    path = Path(path)
    frame = coerce_bars(bars, source="bars to export")
    wall = ServerTime.parse(server_time).from_utc(frame["time"])
    columns = {
        "<DATE>": wall.dt.strftime("%Y.%m.%d"),
        "<TIME>": wall.dt.strftime("%H:%M:%S"),
        **{token: frame[column].astype(str) for token, column in _COLUMN_OF.items()},
    }
    rows: pd.Series | list[str] = (
        pd.DataFrame(columns)[list(HEADER)].agg("\t".join, axis=1) if len(frame) else []
    )
    text = "\r\n".join(["\t".join(HEADER), *rows]) + "\r\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("ascii"))
    return path


def _decode(raw: bytes) -> str:
    """MT5 writes UTF-16 LE (with BOM) from some builds and ANSI/UTF-8 from others."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")
