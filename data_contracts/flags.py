"""Row-level quality checks as vectorized flag columns (True = the row violates the check).

great-expectations evaluates row-wise logic slowly on pandas, and some checks (spikes that
revert, stale runs, session gaps) are not expressible as one expectation at all. So the
arithmetic is done here, once, in numpy, and the suite asserts each flag column holds only
False. The same masks give the quarantine its full row sets and the benchmark its pandas
baseline, so the checks exist in exactly one place.

Each flag is the most specific diagnosis of its rows: a zero-tick bar inside a stale run is
``stale`` (not also ``zero_volume``); a negative spread is ``non_negative:spread`` (not also an
outlier); NaN prices and missing or naive times leave the flags False, because ``not_null:*``
and ``dtype:time`` already name them. That keeps "one defect → one check".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from data_contracts.calendar_sessions import CalendarSession, trading_hours
from data_contracts.config import ContractConfig
from data_contracts.schema import INT_COLUMNS, PRICE_COLUMNS, RATE_COLUMNS, TIMEFRAME_SECONDS
from data_contracts.sessions import aligned, in_session, missing_slots, wall_clock_ns

MAD_TO_SIGMA = 1.4826
SPREAD_SCALE_FLOOR = 0.25  # log units: a constant spread must grow e^(9·0.25)≈9.5× to flag

# check name → flag column the suite asserts all-False
FLAG_OF: dict[str, str] = {
    "unique_time": "flag_duplicate_time",
    "high_ge_open_close": "flag_high_below_open_close",
    "low_le_open_close": "flag_low_above_open_close",
    "increasing_time": "flag_time_before_previous",
    "gap": "flag_gap",
    "spike": "flag_spike",
    "stale": "flag_stale",
    "zero_volume": "flag_zero_volume",
    "spread_outlier": "flag_spread_outlier",
    "outside_session": "flag_outside_session",
    "misaligned_time": "flag_misaligned_time",
}
FLAG_COLUMNS: tuple[str, ...] = tuple(FLAG_OF.values())
_TIME_CHECKS = ("unique_time", "increasing_time", "gap", "outside_session", "misaligned_time")
# Bar columns each check reads: a missing input is the schema check's finding, not this one's.
CHECK_INPUTS: dict[str, tuple[str, ...]] = {
    "unique_time": ("time",),
    "high_ge_open_close": ("open", "high", "close"),
    "low_le_open_close": ("open", "low", "close"),
    "increasing_time": ("time",),
    "gap": ("time",),
    "spike": ("close",),
    "stale": ("close", "tick_volume"),
    "zero_volume": ("close", "tick_volume", "real_volume"),
    "spread_outlier": ("spread",),
    "outside_session": ("time",),
    "misaligned_time": ("time",),
}


def add_check_flags(
    bars: pd.DataFrame,
    *,
    symbol: str = "",
    timeframe: str | None = None,
    config: ContractConfig | None = None,
) -> pd.DataFrame:
    """Copy of ``bars`` (positional index) plus one boolean column per flag check.

    Args:
        symbol: picks the session and whether ``real_volume`` is reported.
        timeframe: bar length for gaps and alignment; inferred from the data when None.
        config: thresholds (defaults when None).
    """
    frame = bars.reset_index(drop=True).copy()
    for flag, values in compute_flags(
        frame, symbol=symbol, timeframe=timeframe, config=config
    ).items():
        frame[flag] = values
    return frame


def compute_flags(
    bars: pd.DataFrame,
    *,
    symbol: str = "",
    timeframe: str | None = None,
    config: ContractConfig | None = None,
) -> dict[str, np.ndarray]:
    """Flag column name → boolean array (row order of ``bars``); ``bars`` is not modified."""
    config = config or ContractConfig()
    frame = bars
    n = len(frame)
    present = set(frame.columns)

    def has(check: str) -> bool:
        return all(
            c in present and pd.api.types.is_numeric_dtype(frame[c]) for c in CHECK_INPUTS[check]
        )

    flags: dict[str, np.ndarray] = {flag: np.zeros(n, dtype=bool) for flag in FLAG_COLUMNS}
    if has("high_ge_open_close"):
        flags[FLAG_OF["high_ge_open_close"]] = _arr(frame["high"]) < np.fmax(
            _arr(frame["open"]), _arr(frame["close"])
        )
    if has("low_le_open_close"):
        flags[FLAG_OF["low_le_open_close"]] = _arr(frame["low"]) > np.fmin(
            _arr(frame["open"]), _arr(frame["close"])
        )
    if has("spike"):
        flags[FLAG_OF["spike"]] = flag_spikes(_arr(frame["close"]), config)
    if has("stale"):
        stale = flag_stale(_arr(frame["close"]), _arr(frame["tick_volume"]), config.stale_bars)
        flags[FLAG_OF["stale"]] = stale
        if has("zero_volume"):
            volumes = [_arr(frame["tick_volume"])]
            if symbol in config.real_volume_symbols:
                volumes.append(_arr(frame["real_volume"]))
            zero = np.logical_or.reduce([v == 0 for v in volumes])
            flags[FLAG_OF["zero_volume"]] = zero & ~stale
    if has("spread_outlier"):
        flags[FLAG_OF["spread_outlier"]] = flag_spread_outliers(
            _arr(frame["spread"]), config.spread_threshold, _utc_hours(frame)
        )
    if "time" in present and isinstance(frame["time"].dtype, pd.DatetimeTZDtype):
        flags.update(_time_flags(frame["time"], symbol, timeframe, config))
    return flags


def _time_flags(
    times: pd.Series, symbol: str, timeframe: str | None, config: ContractConfig
) -> dict[str, np.ndarray]:
    """Ordering, gaps, sessions and alignment; NaT rows are left to ``not_null:time``."""
    n = len(times)
    valid = times.notna().to_numpy()
    out = {FLAG_OF[c]: np.zeros(n, dtype=bool) for c in _TIME_CHECKS}
    if not valid.any():
        return out
    kept = times[valid]
    raw = kept.to_numpy("datetime64[ns]").view("int64")
    out[FLAG_OF["unique_time"]][valid] = pd.Series(raw).duplicated(keep=False).to_numpy()
    # Strictly earlier than the bar before: duplicates are the uniqueness check's finding.
    out[FLAG_OF["increasing_time"]][valid] = np.diff(raw, prepend=raw[0]) < 0
    session = config.session_for(symbol)
    wall = wall_clock_ns(kept, session.clock)
    step = TIMEFRAME_SECONDS[timeframe] if timeframe else infer_step_seconds(raw)
    # Gaps are judged on the times in order, so a swapped or repeated bar is not also a gap;
    # the bar after a gap carries the flag.
    order = np.argsort(wall, kind="stable")
    if isinstance(session, CalendarSession):
        hours = trading_hours(session, symbol, kept.min(), kept.max())
        missing = hours.missing_slots(wall[order], step)
        inside = hours.in_session(wall, step)
    else:
        missing = missing_slots(wall[order], session, step, config.holidays, config.annual_holidays)
        inside = in_session(wall, session)
    gap = np.zeros(len(order), dtype=bool)
    gap[order] = missing > config.gap_tolerance_bars
    out[FLAG_OF["gap"]][valid] = gap
    out[FLAG_OF["outside_session"]][valid] = ~inside
    out[FLAG_OF["misaligned_time"]][valid] = ~aligned(wall, step)
    return out


def flag_spikes(close: np.ndarray, config: ContractConfig) -> np.ndarray:
    """Bars whose close jumps by a robust z-score above threshold and comes back within k bars.

    z uses the median and MAD of the symbol's log returns, so a few spikes cannot inflate
    the scale that judges them; the MAD is taken per block of ``spike_window`` bars, because
    volatility clusters and a calm month's scale would call a busy month's moves spikes. "Comes back": some close within ``spike_revert_bars`` lies
    within ``spike_revert_fraction`` of the jump from the close before it. Flagged are the
    jump bar and any bars before the revert (the whole excursion); a lasting jump is a move.
    """
    n = len(close)
    flags = np.zeros(n, dtype=bool)
    if n < 3:
        return flags
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(np.where(close > 0, close, np.nan))
    returns = np.diff(log_close, prepend=np.nan)
    z = local_robust_z(returns, config.spike_window)
    candidates = np.flatnonzero(np.abs(z) > config.spike_threshold)
    candidates = candidates[candidates >= 1]
    if not len(candidates):
        return flags
    before = log_close[candidates - 1]
    jump = np.abs(returns[candidates])
    reverted_at = np.zeros(len(candidates), dtype=np.int64)
    for j in range(config.spike_revert_bars, 0, -1):  # descending: the nearest revert wins
        later = candidates + j
        inside = later < n
        back = np.full(len(candidates), np.nan)
        back[inside] = log_close[later[inside]]
        reverted = np.abs(back - before) <= config.spike_revert_fraction * jump
        reverted_at[reverted] = j
    spikes, lengths = candidates[reverted_at > 0], reverted_at[reverted_at > 0]
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, spikes, 1)
    np.add.at(delta, spikes + lengths, -1)
    return np.cumsum(delta[:-1]) > 0


def flag_stale(close: np.ndarray, tick_volume: np.ndarray, n_bars: int) -> np.ndarray:
    """Runs of at least ``n_bars`` consecutive zero-tick bars repeating the previous close.

    A bar with no ticks that still "closes" is a feed repeating its last quote; one such bar
    is the zero-volume check's business, a run of them is a frozen feed.
    """
    repeat = np.zeros(len(close), dtype=bool)
    if len(close) > 1:
        repeat[1:] = (close[1:] == close[:-1]) & (tick_volume[1:] == 0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], repeat.astype(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    long = (ends - starts) >= n_bars
    delta = np.zeros(len(close) + 1, dtype=np.int64)
    np.add.at(delta, starts[long], 1)
    np.add.at(delta, ends[long], -1)
    return np.cumsum(delta[:-1]) > 0


def flag_spread_outliers(
    spread: np.ndarray, threshold: float, hours: np.ndarray | None = None
) -> np.ndarray:
    """Spreads far above what the symbol shows at that hour (robust z of the log spread).

    Log scale because spreads widen multiplicatively; centred per UTC hour because they
    widen every day at the rollover, which is market life, not an outlier. Spreads below
    half the median count as half the median: only wide spreads matter here, and the long
    left tail of logs of small integers (0, 1, 2 points) would otherwise inflate the scale.
    Negative spreads are left to ``non_negative:spread``.
    """
    valid = spread >= 0
    if not valid.any():
        return np.zeros(len(spread), dtype=bool)
    floor = max(float(np.median(spread[valid])) / 2.0, 1.0)
    values = np.where(valid, np.log(np.maximum(spread, floor).astype("float64")), np.nan)
    if hours is not None:
        medians = pd.Series(values).groupby(hours).median()
        values = values - medians.reindex(range(24)).to_numpy()[hours]
    return robust_z(values, floor=SPREAD_SCALE_FLOOR) > threshold


def robust_z(values: np.ndarray, *, floor: float) -> np.ndarray:
    """(x − median) / (1.4826·MAD), NaN-aware; the scale never drops below ``floor``.

    With a zero MAD (mostly identical values) the mean absolute deviation stands in, so a
    series of flat bars with one jump still has a finite scale.
    """
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.zeros(len(values))
    center = float(np.median(finite))
    deviation = np.abs(finite - center)
    scale = MAD_TO_SIGMA * float(np.median(deviation))
    if scale == 0.0:
        scale = 1.2533 * float(np.mean(deviation))
    scale = max(scale, floor)
    if scale == 0.0:
        return np.zeros(len(values))
    with np.errstate(invalid="ignore"):
        return np.nan_to_num((values - center) / scale, nan=0.0)


def local_robust_z(values: np.ndarray, window: int) -> np.ndarray:
    """Robust z-score with the global median but a per-block MAD (blocks of ``window``).

    A block's scale never falls below half the global one, so a quiet (or flat) block does
    not turn ordinary moves into outliers. The last partial block joins the one before it.
    """
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(len(values))
    center = float(np.median(values[finite]))
    deviation = np.abs(values - center)
    overall = MAD_TO_SIGMA * float(np.median(deviation[finite]))
    if overall == 0.0:
        overall = 1.2533 * float(np.mean(deviation[finite]))
    if overall == 0.0:
        return np.zeros(len(values))
    blocks = max(1, len(values) // window)
    cut = (blocks - 1) * window
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks fall back below
        heads = np.nanmedian(deviation[:cut].reshape(blocks - 1, window), axis=1)
        tail = np.nanmedian(deviation[cut:])
    local = MAD_TO_SIGMA * np.append(heads, tail)
    local = np.fmax(np.nan_to_num(local, nan=overall), 0.5 * overall)
    scale = np.repeat(local, np.append(np.full(blocks - 1, window), len(values) - cut))
    return np.nan_to_num((values - center) / scale, nan=0.0)


def infer_step_seconds(raw_ns: np.ndarray) -> int:
    """Bar length as the most common positive gap (H1 data → 3600), H1's when unknowable."""
    gaps = np.diff(np.sort(raw_ns))
    gaps = gaps[gaps > 0]
    if not len(gaps):
        return TIMEFRAME_SECONDS["H1"]
    values, counts = np.unique(gaps, return_counts=True)
    return int(values[np.argmax(counts)] // 1_000_000_000)


def check_masks(
    frame: pd.DataFrame, checks: Callable[[str], bool] | None = None
) -> dict[str, np.ndarray]:
    """Every row-level check's violation mask over a flagged frame (the pandas reading).

    The simple checks mirror their great-expectations counterparts exactly (nulls are
    skipped by ``positive``/``non_negative``, as GX's column map expectations do),
    so counts and row numbers agree with the suite's. ``checks`` limits which are built.
    """
    wanted = checks or (lambda _check: True)
    masks: dict[str, np.ndarray] = {}
    present = set(frame.columns)
    for column in RATE_COLUMNS:
        if column in present and wanted(f"not_null:{column}"):
            masks[f"not_null:{column}"] = frame[column].isna().to_numpy()
    for column in (*PRICE_COLUMNS, *INT_COLUMNS):
        kind = "positive" if column in PRICE_COLUMNS else "non_negative"
        check = f"{kind}:{column}"
        if column in present and wanted(check) and pd.api.types.is_numeric_dtype(frame[column]):
            values = _arr(frame[column])
            masks[check] = values <= 0 if kind == "positive" else values < 0
    for check, flag in FLAG_OF.items():
        if flag in present and wanted(check):
            masks[check] = frame[flag].to_numpy(dtype=bool)
    return masks


def _utc_hours(frame: pd.DataFrame) -> np.ndarray | None:
    """UTC hour (int8) of each bar, or None when the times are unusable (naive, NaT, missing)."""
    if "time" not in frame.columns or not isinstance(frame["time"].dtype, pd.DatetimeTZDtype):
        return None
    times = frame["time"]
    if times.isna().any():
        return None
    raw = times.to_numpy("datetime64[ns]").view("int64")
    return ((raw // 3_600_000_000_000) % 24).astype(np.int8)


def _arr(values: pd.Series) -> np.ndarray:
    """A column as a float or int numpy array (NaN kept), without copying when possible."""
    return values.to_numpy()
