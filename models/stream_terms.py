"""A feature formula as Python source: what ``models.rolling`` compiles for streaming.

Run over ``StreamStats``, a formula (``models.rolling.Formula``) builds ``Term``s instead of
numbers: ``last``/``lag`` index a series' ring buffer, ``mean``/``std`` read a ``Rolling``
window named ``w0``, ``w1``, … (registered here, one per series and length), and ``+ - * /``
join their sources. ``models.rolling.RollingLayout`` compiles the joined sources into the row
and step functions once per feature set. This module is bundled into every logged strategy
file (``models.packaging``), so it imports only third-party packages.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from typing import Any


class Term:
    """A formula's value as Python source over a stream's buffers and windows."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def _join(self, op: str, other: Any, *, swapped: bool = False) -> Term:
        # repr of a float round-trips exactly, so a constant is the formula's own number
        right = other.source if isinstance(other, Term) else repr(float(other))
        left = self.source
        if swapped:
            left, right = right, left
        return Term(f"({left} {op} {right})")

    def __add__(self, other: Any) -> Term:
        return self._join("+", other)

    def __radd__(self, other: Any) -> Term:
        return self._join("+", other, swapped=True)

    def __sub__(self, other: Any) -> Term:
        return self._join("-", other)

    def __rsub__(self, other: Any) -> Term:
        return self._join("-", other, swapped=True)

    def __mul__(self, other: Any) -> Term:
        return self._join("*", other)

    def __rmul__(self, other: Any) -> Term:
        return self._join("*", other, swapped=True)

    def __truediv__(self, other: Any) -> Term:
        return self._join("/", other)

    def __rtruediv__(self, other: Any) -> Term:
        return self._join("/", other, swapped=True)


# Names the generated functions use themselves (``row``, ``step``): no series may take them.
_RESERVED = frozenset({"nan", "sqrt", "abs", "len", "rows", "_v", "_a", "_d", "_dd", "_o"})
_RESERVED |= {"_m", "_var", "_sd", "_r", "_n"} | {f"_x{i}" for i in range(64)}


class StreamStats:
    """What a formula reads, as ``Term``s: ``last``/``lag`` index a ring buffer, ``mean`` and
    ``std`` read a ``Rolling`` window (registered here, one per series and length)."""

    def __init__(self, series: Sequence[str]) -> None:
        for name in series:
            if not name.isidentifier() or keyword.iskeyword(name) or name in _RESERVED:
                raise ValueError(f"series name {name!r} cannot name a buffer")
            if name.startswith("w") and name[1:].isdigit():
                raise ValueError(f"series name {name!r} is reserved for windows")
        self._index = {name: i for i, name in enumerate(series)}
        self.windows: list[tuple[int, int]] = []  # (series index, length)
        self.checked: list[int] = []  # windows whose std a formula reads

    def _window(self, name: str, length: int) -> int:
        key = (self._index[name], length)
        if key not in self.windows:
            self.windows.append(key)
        return self.windows.index(key)

    def last(self, name: str) -> Term:
        self._index[name]  # an unknown series fails here, not at the first bar
        return Term(f"{name}[-1]")

    def lag(self, name: str, bars: int) -> Term:
        self._index[name]
        return Term(f"{name}[{-1 - bars}]")

    def mean(self, name: str, length: int) -> Term:
        i = self._window(name, length)
        return Term(f"(w{i}.anchor + w{i}.s1 / {length})")  # Rolling.mean, inlined

    def std(self, name: str, length: int) -> Term:
        i = self._window(name, length)
        if i not in self.checked:
            self.checked.append(i)
        return Term(f"w{i}.sd")  # set by the near-constancy check just before the row

    def positive(self, value: Term) -> Term:
        return Term(f"(_v if (_v := {value.source}) > 0.0 else nan)")
