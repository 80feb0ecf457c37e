"""Symbol specifications for any symbol: read from a terminal, or written by a desk, kept
beside the bars.

``data_contracts.symbols.SYMBOL_SPECS`` knows the synthetic market's symbols and a few metals;
a desk trading anything else must not hand-edit code. So a spec can live in
``TATE_HOME/data/symbols/<SYMBOL>.json`` (one JSON object, MT5's ``symbol_info`` field names)
with where it came from (``source``) and when it was read (``read_at``):

- an ingest from a terminal writes it from ``symbol_info()`` (every field the record has);
- ``tate symbols set SYMBOL --spec FILE --by WHO`` stores a desk's file for exported data.
  The file needs :data:`REQUIRED_FIELDS`; the rest take MT5 defaults or follow from them
  (``point`` = 10^-digits, ``trade_tick_size`` = point, ``currency_margin`` = base,
  ``trade_tick_value`` = tick size x contract size). An unknown field is refused (a typo
  must not silently leave a default in place).

:func:`load_spec` prefers the stored record and falls back to the known table; a symbol in
neither is refused naming the file to write and the fields it needs. Writes are atomic
(temp file + rename).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from data_contracts.calendar_sessions import check_calendar_name
from data_contracts.symbols import (
    SYMBOL_SPECS,
    SymbolSpec,
    UnknownSymbolSpecError,
    check_symbol,
)

REQUIRED_FIELDS: tuple[str, ...] = (
    "currency_base",
    "currency_profit",
    "digits",
    "trade_contract_size",
)
SPEC_FIELDS: frozenset[str] = frozenset(f.name for f in fields(SymbolSpec))
RECORD_FIELDS: frozenset[str] = frozenset({"source", "read_at"})


class BadSymbolSpecError(ValueError):
    """A spec file is not a usable symbol record; the message names the file and the field.

    Operator action: fix the file (JSON object, MT5 ``symbol_info`` field names; at least
    ``currency_base``, ``currency_profit``, ``digits``, ``trade_contract_size``).
    """


def spec_path(data_dir: Path, symbol: str) -> Path:
    """``<data>/symbols/<SYMBOL>.json``: the stored record of one symbol."""
    return Path(data_dir) / "symbols" / f"{check_symbol(symbol)}.json"


def spec_from_fields(symbol: str, values: Mapping[str, Any], *, source: str) -> SymbolSpec:
    """A SymbolSpec from MT5-named fields, filling what follows from the required ones.

    Raises:
        BadSymbolSpecError: a required field is missing, a field is unknown or mistyped.
    """
    unknown = sorted(set(values) - SPEC_FIELDS - RECORD_FIELDS)
    if unknown:
        raise BadSymbolSpecError(
            f"{source}: unknown field(s) {unknown}; fields are MT5 symbol_info names: "
            f"{sorted(SPEC_FIELDS - {'name'})}"
        )
    missing = [f for f in REQUIRED_FIELDS if f not in values]
    if missing:
        raise BadSymbolSpecError(f"{source}: {symbol} needs field(s) {missing}")
    given = {k: v for k, v in values.items() if k in SPEC_FIELDS and k != "name"}
    try:
        digits = int(given["digits"])
        point = float(given.get("point", 10.0**-digits))
        tick_size = float(given.get("trade_tick_size", point))
        contract = float(given["trade_contract_size"])
        filled = {
            "description": symbol,
            "currency_margin": given["currency_base"],
            "point": point,
            "trade_tick_size": tick_size,
            "trade_tick_value": tick_size * contract,
            **given,
        }
        spec = SymbolSpec(name=symbol, **filled)
        _check_types(spec)
    except (TypeError, ValueError) as error:
        raise BadSymbolSpecError(f"{source}: {symbol}: {error}") from error
    return spec


def spec_from_symbol_info(symbol: str, info: Any) -> SymbolSpec:
    """A SymbolSpec from a terminal's ``symbol_info()`` (a named tuple with MT5's fields)."""
    values = info._asdict() if hasattr(info, "_asdict") else dict(vars(info))
    picked = {k: v for k, v in values.items() if k in SPEC_FIELDS and k != "name"}
    if "spread" in values and "typical_spread" not in picked:
        picked["typical_spread"] = int(values["spread"])
    return spec_from_fields(symbol, picked, source=f"symbol_info({symbol!r})")


def read_spec_file(path: Path, symbol: str) -> SymbolSpec:
    """A desk's (or a stored) JSON spec file as a SymbolSpec.

    Raises:
        BadSymbolSpecError: the file is not a JSON object of usable fields.
    """
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadSymbolSpecError(f"{path}: not a readable JSON spec: {error}") from error
    if not isinstance(values, dict):
        raise BadSymbolSpecError(f"{path}: a spec is one JSON object of symbol_info fields")
    if values.get("name", symbol) != symbol:
        raise BadSymbolSpecError(f"{path}: names {values['name']!r}, not {symbol!r}")
    return spec_from_fields(symbol, values, source=str(path))


def write_spec(data_dir: Path, spec: SymbolSpec, *, source: str, read_at: datetime) -> Path:
    """Store ``spec`` as ``<data>/symbols/<SYMBOL>.json`` with its source and read time."""
    path = spec_path(data_dir, spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**asdict(spec), "source": source, "read_at": read_at.isoformat()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_spec(data_dir: Path, symbol: str) -> SymbolSpec:
    """The stored record of ``symbol``, else the known table's.

    Raises:
        UnknownSymbolSpecError: neither has it; the message names the file to write.
        BadSymbolSpecError: the stored record is unusable.
    """
    path = spec_path(data_dir, symbol)
    if path.is_file():
        return read_spec_file(path, symbol)
    if symbol in SYMBOL_SPECS:
        return SYMBOL_SPECS[symbol]
    raise UnknownSymbolSpecError(
        f"no symbol spec for {symbol!r}: write a JSON object with at least "
        f"{', '.join(REQUIRED_FIELDS)} (MT5 symbol_info names) and run "
        f"`tate symbols set {symbol} --spec FILE --by WHO` (stores {path}), "
        "or ingest it from a terminal, which reads symbol_info()"
    )


def load_specs(data_dir: Path, symbols: Iterable[str]) -> dict[str, SymbolSpec]:
    """:func:`load_spec` for each symbol (the first unknown one is refused)."""
    return {symbol: load_spec(data_dir, symbol) for symbol in symbols}


def server_times_path(data_dir: Path) -> Path:
    """``<data>/server_times.json``: per symbol, the broker clock its bars were imported in."""
    return Path(data_dir) / "server_times.json"


def record_server_time(data_dir: Path, symbol: str, server_time: str) -> None:
    """Remember the server-time setting ``symbol``'s bars were read in, so validation judges
    its sessions in the broker's week (a later import in another clock replaces it)."""
    times = read_server_times(data_dir)
    if times.get(check_symbol(symbol)) == server_time:
        return
    path = server_times_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**times, symbol: server_time}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_server_times(data_dir: Path) -> dict[str, str]:
    """Symbol → server-time setting of its import; empty for symbols never imported (the
    synthetic market is written in UTC)."""
    path = server_times_path(data_dir)
    if not path.is_file():
        return {}
    values = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in values.items()}


def _check_types(spec: SymbolSpec) -> None:
    """Refuse a field whose JSON type cannot be what MT5 reports (text for a number)."""
    for field in fields(SymbolSpec):
        value = getattr(spec, field.name)
        if field.type in ("str",) and not isinstance(value, str):
            raise TypeError(f"{field.name} must be text, got {value!r}")
        if field.type in ("int", "float") and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise TypeError(f"{field.name} must be a number, got {value!r}")
    if spec.digits < 0 or spec.point <= 0 or spec.trade_contract_size <= 0:
        raise ValueError("digits must be >= 0, point and trade_contract_size > 0")
    if spec.session_calendar is not None:
        if not isinstance(spec.session_calendar, str):
            raise TypeError(f"session_calendar must be text, got {spec.session_calendar!r}")
        check_calendar_name(spec.session_calendar, spec.name)
