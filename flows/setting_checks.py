"""The rules a `TATE_*` value must pass while the settings are built, one plain function each.

`flows/settings.py` declares the fields and calls these from its validators, so a value tate cannot
use is refused before anything starts. Each returns the value (parsed or normalised) or raises
`ValueError` with words the CLI prints after "bad setting"; none reads the environment.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from data_contracts.symbols import BadSymbolError, check_symbol

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


def split_symbols(value: Any) -> Any:
    """`EURUSD,GBPUSD` as people write it, or a JSON list; anything else is left to pydantic."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"not a JSON list ({error.msg} at column {error.colno}); "
                'write EURUSD,GBPUSD or ["EURUSD", "GBPUSD"]'
            ) from None
    return [part.strip() for part in text.split(",")]


def plain_symbols(value: tuple[str, ...]) -> tuple[str, ...]:
    """At least one symbol, each one a symbol name, none listed twice."""
    if not value:
        raise ValueError("no symbols; expected e.g. EURUSD,GBPUSD")
    for symbol in value:
        try:
            check_symbol(symbol)
        except BadSymbolError as error:
            raise ValueError(f"{error}; expected e.g. EURUSD,GBPUSD") from None
    if len(set(value)) != len(value):
        raise ValueError("a symbol is listed twice")
    return value


def known_log_level(value: str) -> str:
    """One of the logging module's level names, in any case."""
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"unknown log level; expected one of {', '.join(LOG_LEVELS)}")
    return value


def cron(value: str) -> str:
    """Prefect's own check, so a schedule `tate up` would refuse is refused here, at once;
    the default needs no check (and no Prefect import on every command)."""
    if value != "0 * * * *":
        from prefect._internal.schemas.validators import validate_cron_string

        validate_cron_string(value)
    return value


def rising_stages(value: tuple[float, ...]) -> tuple[float, ...]:
    """Canary stages as fractions in (0, 1], strictly rising."""
    if not value or any(not 0 < v <= 1 for v in value) or list(value) != sorted(set(value)):
        raise ValueError("stages must be rising fractions in (0, 1], e.g. [0.05, 0.1, 0.25]")
    return value


def known_timeframe(value: str) -> str:
    """A timeframe of the one list (`data_contracts.schema`)."""
    from data_contracts.schema import TIMEFRAME_SECONDS  # the one list; pandas, so late

    if value not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {value!r}; expected one of {list(TIMEFRAME_SECONDS)}")
    return value


def known_server_time(value: str) -> str:
    """A server time `data_contracts.server_time` can read."""
    from data_contracts.server_time import ServerTime

    ServerTime.parse(value)  # raises ValueError naming the value and the accepted forms
    return value


def listed(value: Any) -> Any:
    """A JSON list, or the plain comma-separated form people type."""
    if not isinstance(value, str):
        return value
    if value.strip().startswith("["):
        return json.loads(value)
    return tuple(part.strip() for part in value.split(",") if part.strip())


def expanded_key(value: Path | None) -> Path | None:
    """An explicit signing key, resolved; it is never created (only the default one is), so a
    wrong path is a typo."""
    if value is None:
        return None
    path = value.expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"no key file at {path}")
    return path


def expanded_keys(value: tuple[Path, ...]) -> tuple[Path, ...]:
    """Trusted key files or folders, resolved, each one there: a trust list naming nothing would
    refuse every version for a reason hard to see."""
    paths = tuple(path.expanduser().resolve() for path in value)
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise ValueError(f"no public key file or folder at {', '.join(missing)}")
    return paths


def key_ids(value: tuple[str, ...]) -> tuple[str, ...]:
    """Key ids as `serving.registry.signatures.key_id` makes them: 16 lowercase hex digits."""
    for key_id in value:
        if not _KEY_ID.fullmatch(key_id):
            raise ValueError(f"{key_id!r} is not a key id: expected 16 lowercase hex digits")
    return value


def usable_journal_url(value: SecretStr | None) -> SecretStr | None:
    """A URL SQLAlchemy has a dialect for; the error never repeats the URL (or its password)."""
    if value is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value.get_secret_value()).get_dialect()
    except ArgumentError as error:  # its words never repeat the URL (or its password)
        raise ValueError(f"not a database URL SQLAlchemy can use: {error}") from None
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (a name other than ``localhost`` is not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
