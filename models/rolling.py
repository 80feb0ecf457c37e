"""Rolling statistics of bar series, so a strategy writes each feature formula once.

A feature formula is a function of a *stats* object: it reads ``last(series)``,
``lag(series, bars)``, ``mean(series, length)``, ``std(series, length)`` and
``positive(value)`` (the value where above 0, else NaN), and combines them with ``+ - * /``.
The same function runs three ways:

- over ``ArrayStats`` of whole arrays: every row at once (numpy) — training and ``predict``;
- over ``ArrayStats(..., last_only=True)``: numpy's statistics of the trailing values — the
  fallback row of a near-constant window (bit-equal to the batch row: the same numpy calls);
- over ``StreamStats`` (``models.stream_terms``), once per feature set: the formula's terms
  become Python source over ring buffers and ``Rolling`` running sums, compiled into one
  function ``RollingRows`` calls per bar (a few microseconds for thirty features,
  independent of the window length).

A series is a float array per bar, right-aligned: it ends at the last bar and may start later
(a one-bar return has no value at the first bar). This module is bundled into every logged
strategy file (``models.packaging``), so it imports only third-party packages.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.stream_terms import StreamStats, Term

# A feature formula: the feature's value(s) from a stats object (ArrayStats or StreamStats).
Formula = Callable[[Any], Any]

# Running sums are recomputed exactly every this many values, so rounding never accumulates.
REFRESH_VALUES = 64
# At or below this std / |mean| a series is (near-)constant: numpy's std of it is rounding
# noise (a constant array's mean is often off by an ulp), which running sums cannot reproduce,
# so the row is computed numpy's way. Above it both are accurate: numpy's error is about
# (eps·|mean|/std)² relative, below 1e-17 here, and anchored deviations are exact.
NEAR_CONSTANT = 1e-7
# The anchor is re-centred once the window's mean has moved more than two stds away from it.
MAX_ANCHOR_DRIFT_SQ = 4.0
# Sums are recomputed once the largest squared deviation they took in exceeds this many times
# the window's variance sum: after a calm spell follows a busy one, the rounding residue the
# busy values left behind would otherwise dominate the small variance.
MAX_PEAK_RATIO = 16.0


# --- every row at once, or the last row, with numpy --------------------------------------


def _right_align(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` left-padded with NaN to ``n`` rows (a series that starts late)."""
    if values.size >= n:
        return values[values.size - n :]
    return np.concatenate([np.full(n - values.size, np.nan), values])


class ArrayStats:
    """What a formula reads, as numpy arrays over every row (NaN where history is short), or as
    numpy scalars of the last row only (``last_only``) — the same numpy reductions either way.
    """

    def __init__(self, series: Mapping[str, np.ndarray], *, last_only: bool = False) -> None:
        arrays = {name: np.asarray(values, dtype=np.float64) for name, values in series.items()}
        n = max((a.size for a in arrays.values()), default=0)
        self.series = {name: _right_align(a, n) for name, a in arrays.items()}
        self.last_only = last_only
        self._cache: dict[tuple[str, str, int], Any] = {}

    def evaluate(self, formulas: Sequence[Formula]) -> list[Any]:
        """Each formula's value(s); division by zero gives inf/NaN, as numpy does."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return [formula(self) for formula in formulas]

    def last(self, name: str) -> Any:
        values = self.series[name]
        return values[-1] if self.last_only else values

    def lag(self, name: str, bars: int) -> Any:
        values = self.series[name]
        if self.last_only:
            return values[-1 - bars]
        out = np.full(values.size, np.nan)
        out[bars:] = values[: values.size - bars]
        return out

    def mean(self, name: str, length: int) -> Any:
        return self._reduce("mean", name, length)

    def std(self, name: str, length: int) -> Any:
        """Population std (numpy's default), over the last ``length`` values."""
        return self._reduce("std", name, length)

    def positive(self, value: Any) -> Any:
        return np.where(value > 0, value, np.nan)

    def _reduce(self, how: str, name: str, length: int) -> Any:
        key = (how, name, length)
        if key not in self._cache:
            values = self.series[name]
            if self.last_only:
                result = getattr(values[-length:], how)()
            elif values.size < length:
                result = np.full(values.size, np.nan)
            else:
                rows = getattr(sliding_window_view(values, length), how)(axis=1)
                result = _right_align(rows, values.size)
            self._cache[key] = result
        return self._cache[key]


# --- one bar at a time: running sums and compiled formulas -------------------------------


class Rolling:
    """Mean and std of the last ``length`` values of a stream, updated in O(1) per value.

    Sums are kept of ``value - anchor`` with the anchor near the window's mean, so the
    variance ``s2/n - (s1/n)²`` does not cancel away its digits (log volumes sit near 7 with
    a std near 0.3; unshifted, that would cost about three digits). Every ``REFRESH_VALUES``
    values — staggered across windows by ``phase`` so no bar pays for all of them — the sums
    are recomputed exactly (``math.fsum``) from the stream, which bounds accumulated rounding.

    Rounding in the sums is at most ~``REFRESH_VALUES`` × eps × (``s2`` + ``peak``), ``peak``
    being the largest squared deviation taken in since the last exact recompute; ``std``
    recomputes whenever that bound could exceed ~1e-13 of the variance (the mean drifted
    from the anchor, or the variance shrank far below ``peak``).
    """

    __slots__ = (
        "anchor",
        "anchored",
        "countdown",
        "length",
        "peak",
        "phase",
        "s1",
        "s2",
        "sd",
        "values",
    )

    def __init__(self, values: deque[float], length: int, *, anchored: bool, phase: int) -> None:
        self.values, self.length, self.anchored = values, length, anchored
        self.phase = phase % REFRESH_VALUES
        self.anchor = self.s1 = self.s2 = self.sd = self.peak = 0.0
        self.countdown = REFRESH_VALUES - self.phase

    def push(self) -> None:
        """Account for the value just appended to the stream (and the one leaving the window)."""
        values, anchor = self.values, self.anchor
        d = values[-1] - anchor
        dd = d * d
        if dd > self.peak:
            self.peak = dd
        if len(values) > self.length:
            o = values[-1 - self.length] - anchor
            self.s1 += d - o
            self.s2 += dd - o * o
        else:
            self.s1 += d
            self.s2 += dd
        self.countdown -= 1
        if self.countdown <= 0:
            self.refresh()

    def refresh(self, *, restagger: bool = False) -> None:
        """Recompute the sums exactly from the stream (re-centring the anchor if anchored)."""
        count = min(len(self.values), self.length)
        window = list(itertools.islice(self.values, len(self.values) - count, None))
        if self.anchored and window:
            self.anchor = math.fsum(window) / count
        anchor = self.anchor
        deviations = [v - anchor for v in window]
        squares = [d * d for d in deviations]
        self.s1 = math.fsum(deviations)
        self.s2 = math.fsum(squares)
        self.peak = max(squares, default=0.0)
        self.countdown = REFRESH_VALUES - self.phase if restagger else REFRESH_VALUES

    def mean(self) -> float:
        return self.anchor + self.s1 / self.length

    def std(self) -> float:
        """Population std (numpy's ``std``), also kept in ``sd``."""
        n = self.length
        m = self.s1 / n
        var = self.s2 / n - m * m
        if m * m > MAX_ANCHOR_DRIFT_SQ * var or self.peak > MAX_PEAK_RATIO * n * var:
            self.refresh()
            m = self.s1 / n
            var = self.s2 / n - m * m
        self.sd = math.sqrt(var) if var > 0.0 else 0.0
        return self.sd


class RollingLayout:
    """Formulas compiled once for streaming: the windows each series needs and the row function.

    ``series`` maps each series name to whether its running sums are anchored at the window's
    mean (values far from zero relative to their spread) or not (exact without: integers).
    """

    def __init__(
        self, series: Mapping[str, bool], formulas: Sequence[Formula], window: int
    ) -> None:
        self.series, self.anchored = tuple(series), tuple(series.values())
        self.formulas, self.window = tuple(formulas), window
        stats = StreamStats(self.series)
        sources = []
        for formula in self.formulas:
            term = formula(stats)
            sources.append(term.source if isinstance(term, Term) else repr(float(term)))
        self.windows, self.checked = tuple(stats.windows), tuple(stats.checked)
        params = ", ".join([*self.series, *(f"w{i}" for i in range(len(self.windows)))])
        code = f"def row({params}):\n    return [{', '.join(sources)}]\n"
        code += step_source(self, params, sources)
        namespace: dict[str, Any] = {"nan": math.nan, "sqrt": math.sqrt}
        exec(compile(code, "<feature formulas>", "exec"), namespace)
        self.row: Callable[..., list[float]] = namespace["row"]
        self.step: Callable[..., list[float]] = namespace["step"]


def step_source(layout: RollingLayout, params: str, sources: Sequence[str]) -> str:
    """Python source of ``step(rows, *values)``: ``RollingRows.append`` in one function.

    Per bar the stream appends a value to each series, pushes every window on it, checks the
    std of each window a formula reads and evaluates the formulas: seventeen small calls for
    the production features, each touching its own code and frame. Here they are one
    function, with ``Rolling.push`` and ``Rolling.std`` written out per window — the same
    operations on the same values in the same order (``refresh`` and the numpy row stay
    calls: rare), so the same floats; a test holds it equal to the calls, bit for bit.
    """
    count = len(layout.formulas)
    values = [f"_x{i}" for i in range(len(layout.series))]
    lines = [f"def step(rows, {', '.join(values)}):", f"    {params}, = rows._args"]
    for s, value in enumerate(values):
        buffer = layout.series[s]
        lines += [f"    if {value} is not None:", f"        {buffer}.append({value})"]
        for i, (series, length) in enumerate(layout.windows):
            if series != s:
                continue
            w = f"w{i}"
            lines += [  # Rolling.push
                f"        _a = {w}.anchor",
                f"        _d = {buffer}[-1] - _a",
                "        _dd = _d * _d",
                f"        if _dd > {w}.peak:",
                f"            {w}.peak = _dd",
                f"        if len({buffer}) > {length}:",
                f"            _o = {buffer}[{-1 - length}] - _a",
                f"            {w}.s1 += _d - _o",
                f"            {w}.s2 += _dd - _o * _o",
                "        else:",
                f"            {w}.s1 += _d",
                f"            {w}.s2 += _dd",
                f"        {w}.countdown -= 1",
                f"        if {w}.countdown <= 0:",
                f"            {w}.refresh()",
            ]
    lines += [
        "    rows.count = _n = rows.count + 1",
        f"    if _n < {layout.window}:",
        f"        rows.values = _r = [nan] * {count}",
        "        return _r",
    ]
    for i in layout.checked:
        w, length = f"w{i}", layout.windows[i][1]
        lines += [  # Rolling.std, then RollingRows._evaluate's near-constancy check
            f"    _m = {w}.s1 / {length}",
            f"    _var = {w}.s2 / {length} - _m * _m",
            f"    if _m * _m > {MAX_ANCHOR_DRIFT_SQ!r} * _var"
            f" or {w}.peak > {MAX_PEAK_RATIO!r} * {length} * _var:",
            f"        {w}.refresh()",
            f"        _m = {w}.s1 / {length}",
            f"        _var = {w}.s2 / {length} - _m * _m",
            f"    {w}.sd = _sd = sqrt(_var) if _var > 0.0 else 0.0",
            f"    if _sd <= {NEAR_CONSTANT!r} * abs({w}.anchor + {w}.s1 / {length}):",
            "        rows.values = _r = rows.numpy_row()",
            "        return _r",
        ]
    lines += [
        "    try:",
        f"        _r = [{', '.join(sources)}]",
        "    except ZeroDivisionError:",
        "        _r = rows.numpy_row()",
        "    rows.values = _r",
        "    return _r",
    ]
    return "\n".join(lines) + "\n"


class RollingRows:
    """One bar stream's series in ring buffers, its rolling windows, and the latest row.

    ``append`` takes one bar's value of each series and returns the formulas' values at that
    bar — NaN until ``window`` bars were seen. Where a window whose std a formula reads is
    near-constant, the row is numpy's (``ArrayStats(last_only=True)`` of the buffers), which
    running sums cannot reproduce digit for digit; so it always agrees with the batch row.
    """

    def __init__(self, layout: RollingLayout) -> None:
        self.layout = layout
        self._keep = layout.window + 1
        self.buffers = tuple(deque[float](maxlen=self._keep) for _ in layout.series)
        phases = itertools.count(0, 11)
        self.windows = tuple(
            Rolling(self.buffers[s], n, anchored=layout.anchored[s], phase=next(phases))
            for s, n in layout.windows
        )
        self._by_series = tuple(
            tuple(w for (s, _), w in zip(layout.windows, self.windows, strict=True) if s == i)
            for i in range(len(layout.series))
        )
        self._checked = tuple(self.windows[i] for i in layout.checked)
        self._args = (*self.buffers, *self.windows)
        self._step = layout.step
        self.count = 0
        self.values: list[float] = [math.nan] * len(layout.formulas)

    @property
    def ready(self) -> bool:
        """Whether a full window has been seen (the row is NaN until then)."""
        return self.count >= self.layout.window

    def append(self, values: Sequence[float | None]) -> list[float]:
        """Take one bar: a value per series (None: that series has none at this bar yet).

        ``layout.step`` does it, in one generated function; ``append_by_calls`` is the same
        through ``Rolling``'s methods (what the step is held equal to)."""
        return self._step(self, *values)

    def append_by_calls(self, values: Sequence[float | None]) -> list[float]:
        """``append`` through ``Rolling.push``, ``Rolling.std`` and ``row``, one call each."""
        for buffer, windows, value in zip(self.buffers, self._by_series, values, strict=True):
            if value is not None:
                buffer.append(value)
                for w in windows:
                    w.push()
        self.count += 1
        self.values = self._evaluate()
        return self.values

    def refill(self, series: Sequence[np.ndarray], bars: int) -> list[float]:
        """Start over from whole series (right-aligned, one per layout series) of ``bars`` bars."""
        for buffer, values in zip(self.buffers, series, strict=True):
            buffer.clear()
            buffer.extend(np.asarray(values, dtype=np.float64)[-self._keep :].tolist())
        for w in self.windows:
            w.refresh(restagger=True)
        self.count = bars
        self.values = self._evaluate()
        return self.values

    def _evaluate(self) -> list[float]:
        if self.count < self.layout.window:
            return [math.nan] * len(self.layout.formulas)
        for w in self._checked:  # also sets each ``sd`` the row reads
            if w.std() <= NEAR_CONSTANT * abs(w.anchor + w.s1 / w.length):
                return self.numpy_row()
        try:
            return self.layout.row(*self._args)
        except ZeroDivisionError:  # a guarded denominator the checks above did not cover
            return self.numpy_row()

    def numpy_row(self) -> list[float]:
        """The row as the batch path computes it, from the buffers."""
        series = dict(zip(self.layout.series, map(np.array, self.buffers), strict=True))
        values = ArrayStats(series, last_only=True).evaluate(self.layout.formulas)
        return [float(v) for v in values]
