"""The names every decision's rows carry: the account (``login@server``) and the intent id.

Both are worked out from what the rows describe, never drawn at random, so a restart (or a
replay of the same bars on the same account) names the same intent the same way; the worker,
its tripped policy and ``flows.serve`` share them.
"""

from __future__ import annotations

import hashlib

from serving.mt5.terminal import Terminal
from serving.mt5.types import AccountInfo

__all__ = ["account_key", "login_at_server", "make_intent_id"]

_SHA1 = hashlib.sha1(usedforsecurity=False)
"""An empty SHA-1, copied per intent id: a copy skips the digest's lookup and set-up in
OpenSSL, which cost an id several times its hashing."""


def make_intent_id(version: str, role: str, symbol: str, bar_time: int, account: str = "") -> str:
    """Short, deterministic id of one decision's trading intent (fits an MT5 comment).

    The account (login@server) is part of it: the same decision on the same account is one
    intent however often a restart re-decides it, while a new account (a new sim replay of the
    same bars) is a new one. Eight hex digits of the bar time, then eight of the hash of the
    rest: ids grow with the bar, so the journal's indexes keyed by intent id take a bar's
    inserts on their right edge (one page each, not one per row at a random place, which
    cost more in commit than the rows themselves). 32 bits of hash tell apart the few dozen
    intents one bar time has; a clash would fail the bar's first commit, never send twice.
    """
    sha1 = _SHA1.copy()
    sha1.update(f"{version}-{role}-{symbol}-{bar_time}-{account}".encode())
    return f"{bar_time & 0xFFFFFFFF:08x}{sha1.hexdigest()[:8]}"


def account_key(terminal: Terminal) -> str:
    """``login@server`` of the terminal's account ("" when it does not say)."""
    return login_at_server(terminal.account_info())


def login_at_server(info: AccountInfo | None) -> str:
    """``login@server`` of an account ("" for none)."""
    return "" if info is None else f"{info.login}@{info.server}"
