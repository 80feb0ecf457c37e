"""Reading bars from a terminal: the only place ingestion asks an MT5 terminal for rates.

Works on any object with the MetaTrader5 module's API (the native module, the mt5linux bridge, or
SimTerminal). Only *closed* bars leave here: the bar still forming changes until it closes, and a store
that kept it would hold a price that never existed at the close.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from serving.mt5 import constants as mt5
from serving.mt5.terminal import Terminal


class TerminalDataError(Exception):
    """The terminal refused a rates request; the message names the symbol and timeframe and
    carries the terminal's `last_error()`.

    Operator action: check the symbol's name in `TATE_SYMBOLS` against the terminal's Market
    Watch (brokers add suffixes such as `EURUSD.r`), show the symbol there, let the terminal
    download its history, and ingest again.
    """


def closed_rates_range(
    terminal: Terminal, symbol: str, timeframe: str, date_from: datetime, date_to: datetime
) -> np.ndarray:
    """Closed bars of `symbol` with open times in [date_from, date_to] (terminal's own time axis).

    MT5 labels bar times in the broker's server time but reads `datetime` arguments as if they were
    UTC, so callers pass server wall times marked UTC (see `data_contracts.server_time.utc_to_server`).
    """
    code = mt5.TIMEFRAMES[timeframe]
    rates: np.ndarray | None = terminal.copy_rates_range(symbol, code, date_from, date_to)
    if rates is None:
        raise TerminalDataError(
            f"copy_rates_range({symbol}, {timeframe}) failed: {terminal.last_error()}"
        )
    forming = terminal.copy_rates_from_pos(symbol, code, 0, 1)
    if forming is not None and len(forming):
        rates = rates[rates["time"] < forming["time"][0]]
    return rates
