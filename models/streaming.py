"""Deciding one closed bar at a time: the single-row LightGBM predictor, and the cache that
recognises a window as the next bar of a stream it has seen.

Generic machinery, kept out of the strategy file so the file reads as its features and model;
``models.packaging`` bundles it into the one file each model version is logged as, so it
imports only third-party packages.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np

logger = logging.getLogger(__name__)

# Bar streams a model keeps features for at once (symbols × whatever else calls decide).
MAX_STREAMS = 64

# struct codes of the numbers ``ndarray.item()`` turns into Python ints, floats and bools
_STRUCT_CODES = {
    ("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
    ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q",
    ("f", 4): "f", ("f", 8): "d", ("b", 1): "?",
}  # fmt: skip

RowReader = Callable[[bytes, int], tuple[Any, ...]]
"""``(raw bytes, offset) -> the record's fields``, as ``array[i].item()`` gives them."""


def row_reader(dtype: np.dtype[Any]) -> RowReader | None:
    """``struct.Struct(...).unpack_from`` for records of ``dtype``: the same Python numbers as
    ``.item()`` of a record (the same bits), without numpy's per-field machinery — which,
    run once per decision amid the worker's other work, is mostly instruction-cache misses.
    None when the dtype is not plain native numbers in field order (nested, sub-arrays,
    strings, another byte order, fields out of offset order): ``.item()`` then."""
    fields = dtype.fields
    if dtype.names is None or fields is None:
        return None
    layout, offset = ["="], 0
    for name in dtype.names:
        field, start = fields[name][0], fields[name][1]
        code = _STRUCT_CODES.get((field.kind, field.itemsize))
        if code is None or not field.isnative or field.shape or start < offset:
            return None
        layout.append("x" * (start - offset) + code)
        offset = start + field.itemsize
    layout.append("x" * (dtype.itemsize - offset))
    reader = struct.Struct("".join(layout))
    return reader.unpack_from if reader.size == dtype.itemsize else None


class RowPredictor:
    """A booster's probability for one feature row, without ``Booster.predict``'s overhead.

    ``Booster.predict`` spends ~20 µs per call on Python-side set-up (a predictor object,
    input conversion, two sizing calls into the library) around a tree walk of a few µs.
    LightGBM's C API has a documented single-row path for exactly this case
    (``LGBM_BoosterPredictForMatSingleRowFastInit`` once, then
    ``LGBM_BoosterPredictForMatSingleRowFast`` per row); it is reached through the ctypes
    library handle the lightgbm package already loaded. It is used only if it is there and
    returns exactly ``Booster.predict``'s numbers on probe rows; otherwise, or if a call
    fails, ``Booster.predict`` on the same preallocated row is the fallback.

    ``row`` (1 × n float64) is the input buffer; ``predict(values)`` fills it and predicts.
    Not thread-safe (one buffer): callers hold a lock.
    """

    def __init__(self, booster: lgb.Booster, n_features: int) -> None:
        self.booster = booster
        # what Booster.predict uses with default arguments
        self.num_iteration = booster.best_iteration
        self.row = np.zeros((1, n_features), dtype=np.float64)
        self.features = self.row[0]  # the row as a flat view (one numpy call to copy it)
        self._buffer = (ctypes.c_double * n_features).from_buffer(self.row)
        # writes a row of Python floats into the buffer as C doubles (the same bytes a
        # ctypes slice assignment writes, in one C loop instead of one conversion per item)
        self._write = struct.Struct(f"={n_features}d").pack_into
        self._out = ctypes.c_double(0.0)
        self._out_len = ctypes.c_int64(0)
        self._config = ctypes.c_void_p()
        self._lib: Any = None
        self._fast: Any = None
        self._args: tuple[Any, ...] = ()
        try:
            self._open_fast_path(n_features)
        except Exception as e:  # an older or different build: the slow path is always right
            logger.warning("LightGBM single-row fast path unavailable (%s); using predict", e)
            self._close_fast_path()

    @property
    def fast(self) -> bool:
        """Whether the single-row C API path is in use."""
        return self._fast is not None

    def _open_fast_path(self, n_features: int) -> None:
        from lightgbm import basic

        lib = basic._LIB
        if self.booster.num_model_per_iteration() != 1:
            raise ValueError("more than one output per row")
        rc = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            self.booster._handle,
            ctypes.c_int(0),  # C_API_PREDICT_NORMAL
            ctypes.c_int(0),  # start_iteration
            ctypes.c_int(self.num_iteration),
            ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
            ctypes.c_int32(n_features),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._config),
        )
        if rc != 0:
            raise RuntimeError(basic._LIB.LGBM_GetLastError().decode())
        self._lib = lib
        self._fast = lib.LGBM_BoosterPredictForMatSingleRowFast
        self._args = (
            self._config,
            ctypes.c_void_p(self.row.ctypes.data),
            ctypes.byref(self._out_len),
            ctypes.byref(self._out),
        )
        rng = np.random.default_rng(0)
        probes = [np.zeros(n_features), np.full(n_features, np.nan)]
        probes += list(rng.normal(0.0, 2.0, (8, n_features)))
        for probe in probes:
            self._buffer[:] = probe.tolist()
            expected = float(self.booster.predict(self.row, num_iteration=self.num_iteration)[0])
            got = self._fast(*self._args)
            if got != 0 or self._out_len.value != 1 or self._out.value != expected:
                raise RuntimeError(
                    f"disagrees with Booster.predict ({self._out.value} != {expected})"
                )

    def _close_fast_path(self) -> None:
        if self._config.value and self._lib is not None:
            self._lib.LGBM_FastConfigFree(self._config)
        self._config = ctypes.c_void_p()
        self._fast = None

    def __del__(self) -> None:
        # at interpreter shutdown the library may already be gone
        with contextlib.suppress(Exception):
            self._close_fast_path()

    def predict(self, values: Sequence[float]) -> float:
        """Probability for one row of ``values`` (written into ``row``)."""
        self._write(self._buffer, 0, *values)
        if self._fast is not None and self._fast(*self._args) == 0:
            return self._out.value
        # one thread: a row gains nothing from OpenMP, and a parallel region waiting for a
        # core another process holds stalls for milliseconds
        return float(
            self.booster.predict(self.row, num_iteration=self.num_iteration, num_threads=1)[0]
        )


class BarState(Protocol):
    """Features of one bar stream: ``push`` the next bar's fields, or ``rebuild`` from columns."""

    values: list[float]

    def push(self, *bar: Any) -> list[float]: ...

    def rebuild(self, *columns: np.ndarray) -> list[float]: ...


class _Stream:
    """A state and the window it last saw (raw bytes), to recognise its successor."""

    __slots__ = ("dtype", "last_time", "raw", "state")

    def __init__(self, state: BarState) -> None:
        self.state, self.raw, self.last_time, self.dtype = state, b"", 0, None


class StreamCache:
    """Feature states per bar stream, found by content rather than by name.

    ``values(window)`` returns the features of a ``copy_rates_from_pos`` window's last bar. A
    window continues a stream when its first ``length - 1`` bars are byte-for-byte that
    stream's last ones and its new bar is not older: the state takes one bar (``push`` of the
    ``fields``). Anything else — the first bar, a gap, a revised bar, out-of-order bars,
    another symbol's window — builds a new state from the window (``rebuild``; counted in
    ``rebuilds``). So the caller needs no symbol, and the result never depends on the order or
    the company in which windows come. Not thread-safe: callers hold a lock.
    """

    def __init__(
        self,
        length: int,
        fields: Sequence[str],
        new_state: Callable[[], BarState],
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self.length, self.fields, self.new_state = length, tuple(fields), new_state
        self.max_streams = max_streams
        self._streams: dict[bytes, _Stream] = {}
        # (dtype, position of ``time``, getter of ``fields``, reader of a record's bytes)
        self._layout: tuple[Any, int, Callable[[tuple[Any, ...]], Any], RowReader | None] | None
        self._layout = None
        # Windows that rebuilt a state instead of pushing one bar (first bar, gaps, revised or
        # out-of-order bars). Once per symbol is normal; one per bar means the per-bar path is
        # not used and each decision pays ~5x more.
        self.rebuilds = 0

    def _layout_of(
        self, dtype: Any
    ) -> tuple[Any, int, Callable[[tuple[Any, ...]], Any], RowReader | None]:
        """Position of ``time``, a getter of ``fields`` in a row of ``dtype`` and a reader of
        a row's bytes (kept for the last dtype seen)."""
        if self._layout is None or self._layout[0] is not dtype:
            positions = [dtype.names.index(name) for name in self.fields]
            getter = (  # a tuple of the fields, one field included
                operator.itemgetter(*positions)
                if len(positions) > 1
                else operator.itemgetter(slice(positions[0], positions[0] + 1))
            )
            self._layout = (dtype, dtype.names.index("time"), getter, row_reader(dtype))
        return self._layout

    @staticmethod
    def _last_bar(recent: np.ndarray, raw: bytes, size: int, reader: RowReader | None) -> Any:
        """The window's last record as a tuple (``recent[-1].item()``)."""
        return recent[-1].item() if reader is None else reader(raw, len(raw) - size)

    def values(self, window: np.ndarray) -> list[float]:
        """The last bar's features: the stream this window continues, pushed one bar, or a
        state rebuilt from the window."""
        recent = window if len(window) == self.length else window[-self.length :]
        raw = recent.tobytes()
        dtype = recent.dtype
        size = dtype.itemsize
        layout = self._layout  # _layout_of, its check inline (one call fewer per bar)
        if layout is None or layout[0] is not dtype:
            layout = self._layout_of(dtype)
        _, t, fields, reader = layout
        bar = recent[-1].item() if reader is None else reader(raw, len(raw) - size)  # _last_bar
        stream = self._streams.pop(raw[-2 * size : -size], None)
        if (
            stream is not None  # whose last window this one moves on by one bar: all but
            # its last bar identical, the new bar not older, the same dtype
            and stream.raw[size:] == raw[:-size]
            and bar[t] >= stream.last_time
            and (dtype is stream.dtype or dtype == stream.dtype)
        ):
            values = stream.state.push(*fields(bar))
        else:
            if stream is not None:  # another stream ending in the same bar: keep it
                self._streams[stream.raw[-size:]] = stream
            times = window["time"]
            if np.any(times[1:] < times[:-1]):
                window = np.sort(window, order="time")
                recent = window[-self.length :]
                raw = recent.tobytes()
                bar = self._last_bar(recent, raw, size, reader)
            same = self._streams.get(raw[-size:])
            if same is not None and same.raw == raw:
                return same.state.values  # the same window again
            stream = _Stream(self.new_state())
            self.rebuilds += 1
            values = stream.state.rebuild(*(recent[name] for name in self.fields))
        stream.raw, stream.last_time, stream.dtype = raw, bar[t], dtype
        self._streams[raw[-size:]] = stream
        if len(self._streams) > self.max_streams:
            del self._streams[next(iter(self._streams))]
        return values
