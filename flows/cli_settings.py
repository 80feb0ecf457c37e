"""How a command gets its settings: built, checked and TATE_HOME prepared, before anything starts.

A bad `TATE_` variable, a home that cannot hold a store, or a symbol the store lacks is one line
(exit 2) here, before any flow, server or child process exists.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from flows.environment import prepare_environment
from flows.errors import (
    BadSettingError,
)
from flows.prefect_api import adopt_stack_api
from flows.settings import TateSettings


def command_settings() -> TateSettings:
    """The settings, checked, and TATE_HOME's folders made; or one line naming the variable.

    Everything here is cheap and starts nothing: the settings' own checks, then a home that
    can hold a store (its parent exists, and a file can be written in it). When `tate up` runs
    for this home and the user set no `PREFECT_API_URL`, its API is adopted (flows then run
    against it and show in its UI); otherwise flows run as plain functions (`flows.plain_runs`).
    """
    try:
        settings = TateSettings()
    except ValidationError as error:
        raise BadSettingError(describe_setting_error(error)) from None
    check_home(settings.home)
    try:
        prepare_environment(settings)
        probe_writable(settings.home)
        adopt_stack_api(settings)  # before any flow module imports Prefect
    except OSError as error:
        raise BadSettingError(
            f"bad setting TATE_HOME={str(settings.home)!r}: cannot write "
            f"{error.filename or settings.home}: {error.strerror or error}"
        ) from None
    return settings


def check_home(home: Path) -> None:
    """Refuse a home whose parent folder is missing (a typo would grow a new tree elsewhere).

    Raises:
        BadSettingError: naming TATE_HOME, its value and what is wrong with the parent.
    """
    parent = home.parent
    if home.is_dir() or parent.is_dir():
        return
    why = "is not a folder" if parent.exists() else "does not exist"
    raise BadSettingError(
        f"bad setting TATE_HOME={str(home)!r}: its parent {parent} {why}; "
        "point TATE_HOME at a folder (or inside an existing one)"
    )


def probe_writable(home: Path) -> None:
    """Write and remove one small file, so a read-only home is named now, not mid-flow."""
    import tempfile

    with tempfile.NamedTemporaryFile(dir=home, prefix=".tate-write-probe-"):
        pass


def warn_remote_hosts(settings: TateSettings) -> None:
    """A warning per host setting that leaves loopback (allowed by TATE_ALLOW_REMOTE_BINDS)."""
    import logging

    for line in settings.remote_hosts():
        logging.getLogger("tate").warning("tate: warning: %s", line)


SECRET_SETTINGS = frozenset({"journal_url"})


def describe_setting_error(error: ValidationError) -> str:
    """`bad setting TATE_X='value': why`, for the first refused setting (secrets not echoed).

    A check across settings (a host and its opt-in) names its variable in its own words.
    """
    first = error.errors()[0]
    why = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return f"bad setting {why}"
    field = str(first["loc"][0])
    # the text as the operator wrote it (a JSON list arrives parsed), else what pydantic saw
    written = _environment_value(field)
    value = written if written is not None else first.get("input")
    shown = "" if field in SECRET_SETTINGS else f"={value!r}"
    if len(first["loc"]) > 1 and field not in SECRET_SETTINGS:  # an item of a list
        shown = f"={_environment_value(field)!r} (item {first['loc'][1]})"
    return f"bad setting TATE_{field.upper()}{shown}: {why}"


def _environment_value(field: str) -> str | None:
    import os

    return os.environ.get(f"TATE_{field.upper()}")


def check_store(settings: TateSettings, symbols: list[str] | None) -> list[str]:
    """The symbols a command will read, each stored; checked before a flow (and server) starts."""
    from data_contracts.store import BarStore

    return BarStore(settings.data_dir).require_symbols(settings.timeframe, symbols)
