"""The terminal a worker trades through, chosen at start-up: a SimTerminal, MT5 or a bridge.

Paper trading is choosing `SimTerminal` here — never an `if` inside the adapter. The sim replays
the champion's hold-out (the bars its final fit never saw) from the bar store; a live netting
account gets the canary's shadow SimTerminal beside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import pandas as pd

from data_contracts.store import BarStore, EmptyRangeError
from data_contracts.symbol_records import load_specs
from data_contracts.synthetic_live import LiveMarket
from flows import tracking
from flows.errors import AliasNotFoundError, TerminalUnavailableError
from flows.settings import TateSettings
from serving.mt5.constants import ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
from serving.mt5.terminal import Terminal
from serving.sim.shadow import ShadowTerminal
from serving.sim.terminal import SimTerminal

logger = logging.getLogger(__name__)


def holdout_start(settings: TateSettings) -> datetime:
    """Where the champion's final fit stopped looking: the replay starts there."""
    champion = tracking.alias_version(settings, tracking.CHAMPION)
    if champion is None:
        raise AliasNotFoundError(
            f"model {settings.model_name!r} has no alias {tracking.CHAMPION!r}; run `tate train` first"
        )
    return pd.Timestamp(champion.tags["holdout_start"]).to_pydatetime()


def new_sim_login() -> int:
    """Each replay is a new simulated account, so it gets a login of its own (intent ids and
    the journal's books are per account)."""
    return time.time_ns() // 1_000_000 % 2_000_000_000


def sim_terminal(
    settings: TateSettings,
    start: datetime | None = None,
    account_mode: str | None = None,
    *,
    live: bool = False,
) -> tuple[SimTerminal, tuple[str, ...]]:
    """A SimTerminal over the stored bars of every symbol still trading when the replay starts.

    The replay starts at the champion's hold-out unless `start` says otherwise (a replay of an
    in-sample window is the drift report's control: it must flag nothing). With `live`, the
    market goes on after the last stored bar (`simulated_live_market`), in memory only.
    """
    start = start or holdout_start(settings)
    store = BarStore(settings.data_dir)
    bars = {
        symbol: store.read_bars(symbol, settings.timeframe)
        for symbol in store.symbols(settings.timeframe)
    }
    live_bars = {s: b for s, b in bars.items() if b["time"].iloc[-1] >= start}
    if not live_bars:
        raise EmptyRangeError(
            f"no stored symbol has bars after the hold-out start {start.isoformat()}"
        )
    mode = "hedging" if (account_mode or settings.account_mode) == "hedging" else "netting"
    terminal = SimTerminal(
        live_bars,
        # a desk's or a terminal's record (data/symbols/) before the known table; an unknown
        # symbol is refused naming the file to write (exit 2), before anything starts
        specs=load_specs(settings.data_dir, sorted(live_bars)),
        timeframe=settings.timeframe,
        account_mode=mode,
        start=start,
        balance=settings.sim_balance,
        login=new_sim_login(),
        feed=simulated_live_market(settings, live_bars) if live else None,
    )
    return terminal, tuple(sorted(live_bars))


def simulated_live_market(settings: TateSettings, bars: dict[str, pd.DataFrame]) -> LiveMarket:
    """The synthetic market's model carried on from the store's last bars, of the symbols that
    trade up to the end of the store (a delisted one stays delisted), seeded by `TATE_SEED`.

    Its bars reach the terminal only: the store, which validation and training read, never
    sees them."""
    latest = max(frame["time"].iloc[-1] for frame in bars.values())
    going_on = {s: frame for s, frame in bars.items() if frame["time"].iloc[-1] == latest}
    return LiveMarket(going_on, seed=settings.seed, timeframe=settings.timeframe)


def live_terminal(settings: TateSettings, kind: str) -> Terminal:
    """The MetaTrader5 module (Windows) or an mt5linux bridge to a terminal under Wine.

    Both are untyped; they are cast to the ``Terminal`` port here, the one place they enter."""
    if kind == "mt5":
        try:
            import MetaTrader5  # type: ignore[import-not-found]
        except ImportError as error:
            raise TerminalUnavailableError(
                "--terminal mt5 needs the MetaTrader5 package, which installs on Windows only "
                "(pip install 'tate[mt5]'); use --terminal mt5linux or sim"
            ) from error
        return cast(Terminal, MetaTrader5)
    try:
        from mt5linux import MetaTrader5 as Bridge  # type: ignore[import-not-found]
    except ImportError as error:
        raise TerminalUnavailableError(
            "--terminal mt5linux needs the mt5linux bridge (pip install 'tate[mt5linux]')"
        ) from error
    try:
        return cast(Terminal, Bridge(host=settings.mt5linux_host, port=settings.mt5linux_port))
    except OSError as error:
        raise TerminalUnavailableError(
            f"--terminal mt5linux: no bridge answers at {settings.mt5linux_host}:"
            f"{settings.mt5linux_port} ({error.strerror or error}); start it under Wine, or set "
            "TATE_MT5LINUX_HOST / TATE_MT5LINUX_PORT"
        ) from error


def live_shadow(
    term: Terminal, symbols: Sequence[str], settings: TateSettings
) -> SimTerminal | None:
    """On a live netting account, the canary's shadow SimTerminal over the terminal's bars."""
    account = term.account_info()
    if account is None or account.margin_mode == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING:
        return None
    try:
        shadow = ShadowTerminal(term, symbols, settings.timeframe, balance=settings.sim_balance)
    except (KeyError, ValueError) as error:
        logger.warning("netting account without a canary shadow: %s", error)
        return None
    shadow.initialize()
    return shadow
