"""A terminal that outlives the worker: a SimTerminal in its own process, reached over a socket,
that writes every ``order_send`` to an fsynced log before executing it.

A real MT5 terminal runs beside the worker (the mt5linux bridge reaches it over a socket), so a
worker killed with SIGKILL leaves the terminal, its positions and its history behind. The kill -9
test (``tests/integration/test_worker_kill9.py``) needs the same, so the SimTerminal lives in a
process of its own (``serve_terminal``) and workers reach it through ``RemoteTerminal``: an object
with the MetaTrader5 module's API whose every call is one request and one answer on a
``multiprocessing.connection`` (pickled, authenticated, loopback only). One lock serialises the
calls of all clients, as one terminal would.

The send log is the witness no kill can erase. Before an ``order_send`` is executed the server
appends one JSON line (the request, the caller's pid) and fsyncs it; after, one line with the
answer. The send line also says what the worker's journal held for that order *at that instant*,
read from this other process: only committed rows are visible there, so it proves the intent
and its order row were committed before the send, not merely written. That read is the test's
observation, not something a terminal does.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars

logger = logging.getLogger(__name__)

AUTHKEY = b"tate-recording-terminal"  # loopback test bridge: keeps stray clients out, no secret
TERMINAL_CALLS = frozenset(
    {
        "initialize", "login", "shutdown", "last_error", "account_info", "symbol_info",
        "symbol_info_tick", "copy_rates_from_pos", "copy_rates_from", "copy_rates_range",
        "order_check", "order_send", "positions_get", "positions_total", "orders_get",
        "orders_total", "history_orders_get", "history_deals_get", "advance",
    }
)  # fmt: skip
"""The MetaTrader5 API calls (plus the replay's ``advance``) a client may make."""


@dataclass(frozen=True)
class TerminalConfig:
    """What the served SimTerminal replays and where the server writes.

    Attributes:
        symbols, bars, seed: ``tests.fakes.make_replay_bars`` of H1 bars (no weekend gaps).
        start: index of the first forming bar (the models need a window of closed bars).
        send_log: the fsynced JSON-lines log of every ``order_send`` and its answer.
        journal: the worker's SQLite journal file, read at each send (may not exist yet).
    """

    symbols: tuple[str, ...]
    bars: int
    seed: int
    start: int
    send_log: Path
    journal: Path


def build_terminal(config: TerminalConfig) -> SimTerminal:
    """A hedging account with latency 0 over the configured bars."""
    bars = make_replay_bars(config.symbols, n=config.bars, seed=config.seed)
    terminal = SimTerminal(bars, account_mode="hedging", start=config.start)
    terminal.initialize()
    return terminal


def journal_facts(journal: Path, comment: str) -> dict[str, Any] | None:
    """The committed order row carrying ``comment`` and its intent's state, or None.

    Read through a connection of this process: uncommitted writes of the worker are invisible.
    """
    if not journal.exists():
        return None
    with closing(sqlite3.connect(journal, timeout=10)) as db:
        row = db.execute(
            "SELECT o.order_key, o.intent_id, o.state, o.magic, o.symbol, i.state "
            "FROM intent_orders o LEFT JOIN intents i ON i.intent_id = o.intent_id "
            "WHERE o.comment = ?",
            (comment,),
        ).fetchone()
    if row is None:
        return None
    keys = ("order_key", "intent_id", "order_state", "magic", "symbol", "intent_state")
    return dict(zip(keys, row, strict=True))


class RecordingTerminal:
    """The served terminal: serialised calls, the send log, and a way to wait for the replay."""

    def __init__(self, terminal: SimTerminal, config: TerminalConfig) -> None:
        self.terminal, self.config = terminal, config
        self.lock = threading.Condition()
        self.log = config.send_log.open("a", encoding="utf-8")
        self.sends = 0
        self.advances = 0
        self.over = False

    def call(self, caller: int, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if name == "wait_for_advances":
            return self.wait_for_advances(*args, **kwargs)
        with self.lock:
            if name == "now":
                return self.terminal.now
            if name == "advances":
                return self.advances
            if name not in TERMINAL_CALLS:
                raise AttributeError(f"the terminal has no call {name!r}")
            if name == "order_send":
                return self.order_send(caller, *args, **kwargs)
            result = getattr(self.terminal, name)(*args, **kwargs)
            if name == "advance":
                self.advances += bool(result)
                self.over = self.over or not result
                self.lock.notify_all()
            return result

    def wait_for_advances(self, count: int, timeout: float) -> int:
        """Block until the replay has advanced ``count`` times (or ended, or ``timeout``)."""
        with self.lock:
            self.lock.wait_for(lambda: self.over or self.advances >= count, timeout)
            return self.advances

    def order_send(self, caller: int, request: Mapping[str, Any]) -> Any:
        self.sends += 1
        comment = str(request.get("comment", ""))
        self._write(
            {
                "n": self.sends,
                "event": "send",
                "pid": caller,
                "comment": comment,
                "magic": int(request["magic"]),
                "symbol": request["symbol"],
                "volume": float(request["volume"]),
                "type": int(request["type"]),
                "position": int(request.get("position", 0)),
                "journal": journal_facts(self.config.journal, comment),
            }
        )
        result = self.terminal.order_send(request)
        answer = {"retcode": None, "order": 0, "deal": 0, "volume": 0.0}
        if result is not None:
            answer = {
                "retcode": result.retcode,
                "order": result.order,
                "deal": result.deal,
                "volume": result.volume,
            }
        self._write({"n": self.sends, "event": "answer", **answer})
        return result

    def _write(self, entry: Mapping[str, Any]) -> None:
        self.log.write(json.dumps(entry) + "\n")
        self.log.flush()
        os.fsync(self.log.fileno())


def _serve_client(server: RecordingTerminal, conn: Connection) -> None:
    """Answer one client's calls until it goes away (a killed worker just vanishes)."""
    with conn:
        try:
            caller = int(conn.recv())
            while True:
                name, args, kwargs = conn.recv()
                try:
                    reply: tuple[bool, Any] = (True, server.call(caller, name, args, kwargs))
                except Exception as error:
                    reply = (False, error)
                conn.send(reply)
        except (EOFError, OSError):
            return


def serve_terminal(config: TerminalConfig, ready: Connection) -> None:
    """Process entry point: serve the terminal on a loopback port, sent back through ``ready``,
    until the process is terminated."""
    server = RecordingTerminal(build_terminal(config), config)
    with Listener(("127.0.0.1", 0), authkey=AUTHKEY) as listener:
        ready.send(listener.address)
        ready.close()
        while True:
            try:
                conn = listener.accept()
            except OSError as error:  # a worker killed during the handshake
                logger.warning("a client went away while connecting: %s", error)
                continue
            threading.Thread(target=_serve_client, args=(server, conn), daemon=True).start()


class RemoteTerminal:
    """The client side: the MetaTrader5 module's API, each call answered by the server.

    Exceptions raised by the terminal are raised here; a vanished server raises ``EOFError``.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self._conn = Client(address, authkey=AUTHKEY)
        self._conn.send(os.getpid())

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send((name, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise value
        return value

    @property
    def now(self) -> int:
        """Open time (epoch s) of the forming bar, like ``SimTerminal.now``."""
        return int(self.call("now"))

    def __getattr__(self, name: str) -> Any:
        if name not in TERMINAL_CALLS:
            raise AttributeError(name)
        return functools.partial(self.call, name)

    def close(self) -> None:
        self._conn.close()


def read_send_log(path: Path) -> list[dict[str, Any]]:
    """Every send in the log, in order, with its answer under ``"answer"`` (None if missing)."""
    sends: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.pop("event") == "send":
            sends[entry["n"]] = {**entry, "answer": None}
        else:
            sends[entry["n"]]["answer"] = entry
    return [sends[n] for n in sorted(sends)]
