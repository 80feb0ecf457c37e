"""The bar store's parquet files: how they are named, read and written.

A file holds one append of one symbol and timeframe, named ``<first>--<last>.parquet`` after
the UTC times of its first and last bar (``FILE_TIME_FORMAT``): names sort by first time, and
a file's span is known without opening it. A file is written whole or not at all
(``write_atomically``). What goes into a file, and what is refused, is ``BarStore``'s call
(``data_contracts.store``); this module only knows the files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs in the lock
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from data_contracts.schema import INT_COLUMNS, PRICE_COLUMNS, RATE_COLUMNS, TIME_DTYPE, coerce_bars

FILE_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_TMP_SUFFIX = ".tmp"


def file_name(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """The name of a file holding bars from ``first`` to ``last`` (UTC)."""
    return f"{first.strftime(FILE_TIME_FORMAT)}--{last.strftime(FILE_TIME_FORMAT)}.parquet"


def file_span(path: Path) -> tuple[str, str]:
    """A file's first and last bar time as its name spells them (``FILE_TIME_FORMAT``)."""
    first, _, last = path.stem.partition("--")
    return first, last


def read_bar_files(files: list[Path]) -> pd.DataFrame:
    """The rate columns of ``files`` (one folder's, at least one), concatenated and coerced.

    Neither sorted nor de-duplicated: callers decide what a repeated time means.
    """
    frames = [pd.read_parquet(f, columns=list(RATE_COLUMNS)) for f in files]
    return coerce_bars(pd.concat(frames, ignore_index=True), source=str(files[0].parent))


def in_store_layout(bars: pd.DataFrame) -> bool:
    """Already ``coerce_bars``' output: the rate columns in order, each in its store dtype."""
    if tuple(bars.columns) != RATE_COLUMNS or str(bars["time"].dtype) != TIME_DTYPE:
        return False
    return all(bars[c].dtype == np.float64 for c in PRICE_COLUMNS) and all(
        bars[c].dtype == np.int64 for c in INT_COLUMNS
    )


def write_parquet(frame: pd.DataFrame, path: Path, rows_per_group: int = 131_072) -> None:
    """Write in row groups, converting one slice at a time: Arrow never holds a second copy
    of a large import (``to_parquet`` converts the whole frame first)."""
    schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(frame), rows_per_group):
            piece = frame.iloc[start : start + rows_per_group]
            writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=False))


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
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
