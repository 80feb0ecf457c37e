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

A desk with exported data writes its symbols once in ``TATE_HOME/data/symbols.toml``: one
table per symbol, the same MT5 field names, the same required fields and derivations, plus
tate's own ``session_calendar`` (an ``exchange-calendars`` name, e.g. ``"CMES"``; MT5's Python
API exposes no session times). An unknown field is refused naming the file, the table and the
field; an unknown calendar name is refused the same way.

:func:`load_spec` takes, in this order: the stored record (``symbols/<SYMBOL>.json``, what a
terminal reported), the desk's ``symbols.toml``, the built-in table of well-known pairs and
metals. A terminal cannot know a session calendar, so a record without one takes the
``symbols.toml`` table's. A symbol in none is refused naming ``symbols.toml`` and the fields
it needs. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from data_contracts.calendar_sessions import calendar_names
from data_contracts.symbols import (
    SYMBOL_SPECS,
    BadSymbolError,
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
SYMBOLS_TOML = "symbols.toml"


class BadSymbolSpecError(ValueError):
    """A spec file is not a usable symbol record; the message names the file and the field.

    Operator action: fix the file (JSON object, MT5 ``symbol_info`` field names; at least
    ``currency_base``, ``currency_profit``, ``digits``, ``trade_contract_size``).
    """


def spec_path(data_dir: Path, symbol: str) -> Path:
    """``<data>/symbols/<SYMBOL>.json``: the stored record of one symbol."""
    return Path(data_dir) / "symbols" / f"{check_symbol(symbol)}.json"


def spec_from_fields(
    symbol: str,
    values: Mapping[str, Any],
    *,
    source: str,
    extra: frozenset[str] = RECORD_FIELDS,
) -> SymbolSpec:
    """A SymbolSpec from MT5-named fields, filling what follows from the required ones.

    Args:
        extra: field names accepted and ignored (a stored record's ``source``, ``read_at``).

    Raises:
        BadSymbolSpecError: a required field is missing, a field is unknown or mistyped, or
            ``session_calendar`` names no exchange-calendars calendar.
    """
    unknown = sorted(set(values) - SPEC_FIELDS - extra)
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
    if spec.session_calendar is not None:
        check_session_calendar(spec.session_calendar, source=f"{source}: session_calendar")
    return spec


def check_session_calendar(name: str, *, source: str) -> None:
    """Refuse a calendar name exchange-calendars does not know (aliases such as
    ``us_futures`` count), naming where it was written.

    Raises:
        BadSymbolSpecError: naming ``source`` and a few names that fit MT5 CFDs.
    """
    if name not in calendar_names():
        raise BadSymbolSpecError(
            f"{source}: {name!r} is not an exchange-calendars calendar; most MT5 index CFDs "
            "trade CME futures hours ('CMES', alias 'us_futures'), cash exchanges are e.g. "
            "'XNYS', 'XETR', 'XLON' (exchange_calendars.get_calendar_names() lists them all)"
        )


def symbols_toml_path(data_dir: Path) -> Path:
    """``<data>/symbols.toml``: the desk's specs for symbols it brings as exported files."""
    return Path(data_dir) / SYMBOLS_TOML


def read_symbols_toml(path: Path) -> dict[str, SymbolSpec]:
    """The desk's ``symbols.toml`` (one ``[SYMBOL]`` table each); empty when there is none.

    Raises:
        BadSymbolSpecError: not TOML, a top-level key that is not a table, a bad symbol name,
            or a table that is not a usable spec (the message names the file and the table).
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BadSymbolSpecError(f"{path}: not readable TOML: {error}") from error
    specs: dict[str, SymbolSpec] = {}
    for symbol, values in tables.items():
        if not isinstance(values, dict):
            raise BadSymbolSpecError(
                f"{path}: {symbol} = {values!r} is not a table; write [SYMBOL] and its fields "
                "under it"
            )
        try:
            check_symbol(symbol)
        except BadSymbolError as error:
            raise BadSymbolSpecError(f"{path}: [{symbol}]: {error}") from error
        specs[symbol] = spec_from_fields(
            symbol, values, source=f"{path} [{symbol}]", extra=frozenset()
        )
    return specs


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


def load_spec(
    data_dir: Path, symbol: str, desk: Mapping[str, SymbolSpec] | None = None
) -> SymbolSpec:
    """``symbol``'s one record: the stored record, else the desk's ``symbols.toml``, else the
    built-in table.

    Args:
        desk: ``symbols.toml`` already read (:func:`load_specs` reads it once); None reads it.

    Raises:
        UnknownSymbolSpecError: in none of them; the message names ``symbols.toml`` and the
            fields to add.
        BadSymbolSpecError: the stored record or ``symbols.toml`` is unusable.
    """
    toml = symbols_toml_path(data_dir)
    desk = read_symbols_toml(toml) if desk is None else desk
    path = spec_path(data_dir, symbol)
    own = desk.get(symbol)
    if path.is_file():
        record = read_spec_file(path, symbol)
        if record.session_calendar is None and own is not None and own.session_calendar:
            return replace(record, session_calendar=own.session_calendar)
        return record
    if own is not None:
        return own
    if symbol in SYMBOL_SPECS:
        return SYMBOL_SPECS[symbol]
    raise UnknownSymbolSpecError(
        f"no symbol spec for {symbol!r}: add a [{symbol}] table to {toml} with "
        f"{', '.join(REQUIRED_FIELDS)} (MT5 symbol_info names; plus session_calendar, an "
        'exchange-calendars name such as "CMES", for an exchange-traded CFD), or run '
        f"`tate symbols set {symbol} --spec FILE --by WHO` (stores {path}), "
        "or ingest it from a terminal, which reads symbol_info()"
    )


def load_specs(data_dir: Path, symbols: Iterable[str]) -> dict[str, SymbolSpec]:
    """:func:`load_spec` for each symbol, ``symbols.toml`` read once (the first unknown
    symbol is refused)."""
    desk = read_symbols_toml(symbols_toml_path(data_dir))
    return {symbol: load_spec(data_dir, symbol, desk) for symbol in symbols}


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
        if field.type == "str | None" and not (value is None or isinstance(value, str)):
            raise TypeError(f"{field.name} must be text, got {value!r}")
        if field.type in ("int", "float") and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise TypeError(f"{field.name} must be a number, got {value!r}")
    if spec.digits < 0 or spec.point <= 0 or spec.trade_contract_size <= 0:
        raise ValueError("digits must be >= 0, point and trade_contract_size > 0")
    if spec.session_calendar is not None and not isinstance(spec.session_calendar, str):
        raise TypeError(f"session_calendar must be text, got {spec.session_calendar!r}")
