"""The journal's engine: its connection settings on SQLite and its JSON columns' serializer
(``serving.journal.Journal`` opens its database through ``make_engine``).

Which crash each SQLite setting covers. WAL with ``synchronous=NORMAL``: a commit is in the
WAL file when ``commit`` returns, so it survives a killed process (``kill -9``, an OOM kill)
but not a power loss or an OS crash, which may take the last commits with them (the WAL is
synced at checkpoints only). ``synchronous=NORMAL`` in WAL survives a killed process but not a
power loss; after a power loss, reconciliation by magic and intent id against the terminal
keeps orders single: a position the journal no longer explains makes start-up reconciliation
disagree for that (symbol, magic) and the worker refuses to trade until an operator adopts it
(``serving.execution.startup``), and a bar decided again gets the same intent id, whose order the
terminal shows under our magic with the id in its comment. ``busy_timeout`` lets a flow's
read and the worker's write wait for each other instead of failing. ``wal_autocheckpoint`` is
raised so the checkpoints (the only fsyncs in this mode) come ten times rarer and larger: it
moves no commit's durability, only how long the WAL grows between checkpoints (~40 MB). The
checkpoints themselves run on a thread of their own (``serving.journal_checkpoints``), every
few hundred commits of the decision path, so no bar waits for one; the autocheckpoint is the
backstop.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

WAL_AUTOCHECKPOINT_PAGES = 10_000
"""Pages of WAL between automatic checkpoints (SQLite's default: 1,000)."""

CACHE_KIB = 32_768
"""Page cache per connection (SQLite's default: 2 MiB): the indexes keyed by intent id take
their inserts at random pages, which a small cache reads back from the file every bar."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


_ENCODER = json.JSONEncoder(default=str)  # built once: ``json.dumps(default=…)`` builds one a call
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
ENCODE_JSON: Any = (
    None
    if _C_ENCODER is None
    else _C_ENCODER(
        None,  # no circular-reference memo (see below)
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,  # ``ensure_ascii``, as ``_ENCODER``
        None,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
)
"""``_ENCODER``'s own C encoder, built once: ``JSONEncoder.encode`` builds one (and a float
formatter, a circular-reference memo) on every call, an eighth of a features row's cost (the
rest is formatting its floats). Same separators, escapes, NaN policy and ``default``, so the
same text; without the memo a value that contains itself would recurse until Python's limit
instead of failing at once (no row holds one: features, order requests)."""


def to_json(value: Any) -> str:
    """JSON columns' serializer: what JSON cannot say (numpy scalars, enums) as its string."""
    if ENCODE_JSON is None or isinstance(value, str):
        return _ENCODER.encode(value)
    return "".join(ENCODE_JSON(value, 0))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL on every connection, in-memory one shared one."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, json_serializer=to_json)
    args: dict[str, Any] = {
        "connect_args": {"check_same_thread": False},
        "json_serializer": to_json,
    }
    if url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(url, poolclass=StaticPool, **args)
    else:
        engine = create_engine(url, **args)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine
