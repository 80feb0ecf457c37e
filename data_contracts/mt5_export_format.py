"""The MT5 "Export bars" file format, and writing bars in it (reading is ``mt5_export``).

File format: tab-separated, header ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL>
<SPREAD>`` (``<TIME>`` absent in daily exports), dates ``2017.04.19``, times ``13:00:00`` or
``13:00``, ``\\r\\n`` line ends, UTF-16 (with BOM) or UTF-8. Times are the broker's server
time, as a ``server_time`` setting (``data_contracts.server_time``) describes it.

The header, the column each field fills and the pattern each field must match live here, so
the reader and the writer agree on one description of the file.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

from data_contracts.schema import coerce_bars
from data_contracts.server_time import ServerTime

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
COLUMN_OF = {
    "<OPEN>": "open",
    "<HIGH>": "high",
    "<LOW>": "low",
    "<CLOSE>": "close",
    "<TICKVOL>": "tick_volume",
    "<VOL>": "real_volume",
    "<SPREAD>": "spread",
}
DATE = r"\d{4}\.\d{2}\.\d{2}"
TIME = r"\d{2}:\d{2}(?::\d{2})?"
NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
NON_FINITE = r"[+-]?(?:inf|infinity|nan)"


@functools.cache
def line_pattern(header: tuple[str, ...]) -> re.Pattern[str]:
    """A whole bar line of this header: date, time (when the header has it), seven numbers."""
    fields = [DATE, *([TIME] if "<TIME>" in header else []), *[NUMBER] * len(COLUMN_OF)]
    return re.compile("\t".join(f"(?:{f})" for f in fields))


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
        **{token: frame[column].astype(str) for token, column in COLUMN_OF.items()},
    }
    rows: pd.Series | list[str] = (
        pd.DataFrame(columns)[list(HEADER)].agg("\t".join, axis=1) if len(frame) else []
    )
    text = "\r\n".join(["\t".join(HEADER), *rows]) + "\r\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("ascii"))
    return path
