"""The faults SimTerminal can inject into ``order_send``, as a live terminal produces them.

Each queued fault spoils one ``order_send`` call (``SimTerminal.inject``). They are the cases
the broker's outcome table and the executor's reconciliation must survive, with or without
the order reaching the server:

- not placed: "requote" (10004), "no_connection" (10031), any integer retcode, "timeout"
  (``None`` with an IPC timeout), "disconnect" (``None``; the terminal stays offline until
  ``initialize()``, while the server side carries on);
- placed: "none" (filled or placed, then ``None`` with an IPC timeout: the reply was lost),
  "disconnect_placed" (placed, then offline), "partial" (10010: half the volume on the
  step is dealt at once, even under latency, and the rest cancelled as IOC does).

A requote storm is many "requote" in a row; a restart mid-order is the executor's crash hook.
"""

from __future__ import annotations

from typing import Literal

from data_contracts.symbols import SymbolSpec
from serving.mt5 import constants as mt5

Fault = (
    Literal[
        "requote", "no_connection", "timeout", "disconnect", "none", "disconnect_placed", "partial"
    ]
    | int
)

ANSWERING_FAULTS: dict[str, tuple[int, str]] = {
    "requote": (mt5.TRADE_RETCODE_REQUOTE, "Requote"),
    "no_connection": (mt5.TRADE_RETCODE_CONNECTION, "No connection with the trade server"),
}
LOST_BEFORE_PLACING = ("timeout", "disconnect")
LOST_AFTER_PLACING = ("none", "disconnect_placed")


def partial_volume(spec: SymbolSpec, volume: float) -> float | None:
    """Half of ``volume`` on the step (at least the minimum); None when that is all of it."""
    steps = int(volume / 2 / spec.volume_step + 1e-9)
    part = max(round(steps * spec.volume_step, 8), spec.volume_min)
    return part if part < volume - 1e-9 else None
