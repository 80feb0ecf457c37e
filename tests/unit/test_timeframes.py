"""A timeframe's bar length has one home (``data_contracts.schema``) that the stale-bars
breaker, the synthetic market and validation read; the terminal knows each by its code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data_contracts.schema import TIMEFRAME_SECONDS, BarSchemaError, bar_length
from serving.mt5 import constants as mt5


def test_timeframes_have_bar_lengths_and_an_unknown_one_is_refused() -> None:
    assert bar_length("M15") == timedelta(minutes=15)
    assert bar_length("H4") == timedelta(hours=4)
    assert bar_length("D1") == timedelta(days=1)
    with pytest.raises(BarSchemaError, match="'X1'"):
        bar_length("X1")


def test_every_timeframe_tate_trades_has_a_terminal_code() -> None:
    assert set(TIMEFRAME_SECONDS) <= set(mt5.TIMEFRAMES)
