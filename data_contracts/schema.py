"""The bar schema every stage agrees on: MT5's rate layout, times in UTC.

Bars cross many boundaries (terminal, CSV export, parquet store, features, SimTerminal); one
function coerces and checks them so a wrong dtype or a naive timestamp fails at the boundary,
with the source named, instead of deep inside feature code.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

RATE_COLUMNS: tuple[str, ...] = (
    "time",
    "open",
    "high",
    "low",
    "close",
    "tick_volume",
    "spread",
    "real_volume",
)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
INT_COLUMNS: tuple[str, ...] = ("tick_volume", "spread", "real_volume")
TIME_DTYPE: Final = "datetime64[ns, UTC]"

TIMEFRAME_SECONDS: dict[str, int] = {  # the bar length of each timeframe tate trades
    "M1": 60,
    "M5": 300,
    "M15": 900,
    "M30": 1800,
    "H1": 3600,
    "H4": 14400,
    "D1": 86400,
}


class BarSchemaError(Exception):
    """Bars do not have the MT5 rate layout; the message names the source and column/row.

    Operator action: fix or re-export the source; nothing downstream can repair it.
    """


def check_timeframe(timeframe: str) -> str:
    """Return ``timeframe`` if known, else raise ``BarSchemaError`` listing the known ones."""
    if timeframe not in TIMEFRAME_SECONDS:
        raise BarSchemaError(
            f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_SECONDS)}"
        )
    return timeframe


def bar_length(timeframe: str) -> timedelta:
    """How long one bar of ``timeframe`` lasts; raises ``BarSchemaError`` if it is unknown."""
    return timedelta(seconds=TIMEFRAME_SECONDS[check_timeframe(timeframe)])


def coerce_bars(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Return a copy of ``df`` with exactly ``RATE_COLUMNS`` in MT5 dtypes.

    Time must already be tz-aware (any zone; converted to UTC) or integer epoch seconds as
    ``copy_rates_*`` returns — a naive datetime is refused because its zone is a guess.
    Integer columns must hold whole numbers; values are not range-checked here (that is the
    great-expectations suite's job, so it can report every bad row instead of the first).

    Raises:
        BarSchemaError: naming ``source`` and the offending column (and row, for values).
    """
    missing = [c for c in RATE_COLUMNS if c not in df.columns]
    if missing:
        raise BarSchemaError(
            f"{source}: missing column(s) {missing}; expected {list(RATE_COLUMNS)}"
        )
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["time"] = _coerce_time(df["time"], source=source)
    for column in PRICE_COLUMNS:
        out[column] = _coerce_float(df[column], source=source, column=column)
    for column in INT_COLUMNS:
        out[column] = _coerce_int(df[column], source=source, column=column)
    return out


def _coerce_time(values: pd.Series, *, source: str) -> pd.Series:
    """tz-aware (any zone) or epoch seconds → UTC; naive times are refused as a guess."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_integer_dtype(values.dtype):
        from_epoch: pd.Series = (
            pd.to_datetime(values.to_numpy(), unit="s", utc=True)
            .to_series(index=values.index, name="time")
            .astype(TIME_DTYPE)
        )
        return from_epoch
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        in_utc: pd.Series = values.dt.tz_convert("UTC").astype(TIME_DTYPE).rename("time")
        return in_utc
    if pd.api.types.is_datetime64_dtype(values.dtype):
        raise BarSchemaError(f"{source}: column 'time' is tz-naive; bars need UTC-aware times")
    if values.dtype == object:
        _refuse_mixed_zones(values, source=source)
    raise BarSchemaError(
        f"{source}: column 'time' has dtype {values.dtype}; expected {TIME_DTYPE} or int64 epoch s"
    )


def _refuse_mixed_zones(values: pd.Series, *, source: str) -> None:
    """Name the first naive time, or the zones mixed, in an object column of datetimes.

    pandas keeps times of different zones (or naive next to aware) as objects; converting
    them would silently pick one reading, so the column is refused with the rows that differ.
    """
    stamps = values.dropna()
    if stamps.empty or not all(isinstance(v, datetime) for v in stamps):
        return
    zones = stamps.map(lambda v: None if v.tzinfo is None else str(v.tzinfo))
    naive = zones.isna()
    if naive.any():
        row = int(naive.idxmax())
        raise BarSchemaError(
            f"{source}: column 'time' mixes naive and tz-aware times; first naive at row {row}: "
            f"{values[row]!r}"
        )
    distinct = list(dict.fromkeys(zones))
    if len(distinct) > 1:
        row = int((zones != distinct[0]).idxmax())
        raise BarSchemaError(
            f"{source}: column 'time' mixes time zones {distinct}; row {row} is in "
            f"{zones[row]} while row {int(zones.index[0])} is in {distinct[0]}"
        )


def _coerce_float(values: pd.Series, *, source: str, column: str) -> pd.Series:
    """Numbers or numeric text → float64; NaN stays NaN for the suite's not-null check."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values.dtype):
        raise BarSchemaError(f"{source}: column {column!r} is boolean; expected prices")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = (numeric.isna() & values.notna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BarSchemaError(
            f"{source}: column {column!r} is not numeric (dtype {values.dtype}); "
            f"first bad row {row}: {values.tolist()[row]!r}"
        )
    return numeric.astype("float64")


def _coerce_int(values: pd.Series, *, source: str, column: str) -> pd.Series:
    """Whole numbers → int64; NaN or fractions are refused (volumes are counts, spread points)."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64")
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric == np.round(numeric))
    if not whole.all():
        row = int(np.flatnonzero(~whole.to_numpy())[0])
        raise BarSchemaError(
            f"{source}: column {column!r} needs whole numbers; row {row} holds {values.tolist()[row]!r}"
        )
    return numeric.astype("int64")


UNIVERSE_COLUMNS: tuple[str, ...] = ("symbol", "listed_from", "delisted_at")


def coerce_universe(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Return the point-in-time universe with UTC ``listed_from``/``delisted_at`` (NaT = listed).

    Accepts tz-aware datetimes or ISO strings (as stored in ``universe.csv``); naive times and
    duplicate symbols are refused, since either makes the survivorship verdict a guess.

    Raises:
        BarSchemaError: naming ``source`` and the column or symbol at fault.
    """
    missing = [c for c in UNIVERSE_COLUMNS if c not in df.columns]
    if missing:
        raise BarSchemaError(
            f"{source}: missing column(s) {missing}; expected {list(UNIVERSE_COLUMNS)}"
        )
    out = pd.DataFrame({"symbol": df["symbol"].astype(str).reset_index(drop=True)})
    for column in ("listed_from", "delisted_at"):
        values = df[column].reset_index(drop=True)
        if pd.api.types.is_datetime64_dtype(values.dtype) and not isinstance(
            values.dtype, pd.DatetimeTZDtype
        ):
            raise BarSchemaError(f"{source}: column {column!r} is tz-naive; universe needs UTC")
        values = values.where(values.notna() & (values.astype(str) != ""), None)
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError) as e:
            raise BarSchemaError(f"{source}: column {column!r} is not ISO datetimes: {e}") from e
        out[column] = parsed.astype(TIME_DTYPE)
    if out["listed_from"].isna().any():
        symbol = out.loc[out["listed_from"].isna(), "symbol"].iloc[0]
        raise BarSchemaError(f"{source}: symbol {symbol!r} has no listed_from")
    duplicated = out["symbol"][out["symbol"].duplicated()]
    if not duplicated.empty:
        raise BarSchemaError(f"{source}: symbol {duplicated.iloc[0]!r} listed twice")
    return out
