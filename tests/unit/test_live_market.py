"""The simulated live market carries the synthetic market on past its last stored bar, and a
SimTerminal fed by it keeps trading where the replay used to end."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from data_contracts.synthetic import POST_REGIME_SPREAD, generate_market, is_fx_weekend
from data_contracts.synthetic_live import LiveMarket, is_post_regime
from serving.mt5 import constants as mt5
from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars

H1 = mt5.TIMEFRAME_H1


@pytest.fixture(scope="module")
def stored() -> dict[str, pd.DataFrame]:
    """A small synthetic market whose regime changed before its end (as the demo's)."""
    market = generate_market(symbols=("EURUSD", "USDJPY"), delisted=None, n_days=120)
    return market.bars


def test_live_bars_continue_each_symbol_after_its_last_stored_bar(
    stored: dict[str, pd.DataFrame],
) -> None:
    chunk = LiveMarket(stored, seed=7, chunk=200).next_chunk()

    assert sorted(chunk) == ["EURUSD", "USDJPY"]
    for symbol, bars in chunk.items():
        last = stored[symbol].iloc[-1]
        assert len(bars) == 200
        assert bars["time"].iloc[0] > last["time"]
        assert bars["time"].is_monotonic_increasing
        assert not is_fx_weekend(pd.DatetimeIndex(bars["time"])).any()
        # the price carries on from the last close (one bar's move, not a jump to a new level)
        assert abs(np.log(bars["open"].iloc[0] / last["close"])) < 0.02
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
        assert list(bars.columns) == list(stored[symbol].columns)


def test_live_bars_keep_the_regime_the_store_ends_in(stored: dict[str, pd.DataFrame]) -> None:
    """The stored market ends after its regime change: wide spreads go on (not the calm ones)."""
    live = LiveMarket(stored, seed=7, chunk=300).next_chunk()
    for symbol, bars in live.items():
        assert is_post_regime(stored[symbol], symbol)
        stored_spread = stored[symbol]["spread"].tail(300).median()
        assert bars["spread"].median() == pytest.approx(stored_spread, rel=0.25)
        early = stored[symbol].head(300)
        assert not is_post_regime(early, symbol)
        assert bars["spread"].median() > early["spread"].median() * np.sqrt(POST_REGIME_SPREAD)


def test_the_same_seed_and_store_give_the_same_live_bars_chunk_after_chunk(
    stored: dict[str, pd.DataFrame],
) -> None:
    one, two = LiveMarket(stored, seed=7, chunk=50), LiveMarket(stored, seed=7, chunk=50)
    for _ in range(3):
        a, b = one.next_chunk(), two.next_chunk()
        for symbol in a:
            pd.testing.assert_frame_equal(a[symbol], b[symbol])
    other = LiveMarket(stored, seed=8, chunk=50).next_chunk()
    assert not other["EURUSD"]["close"].equals(
        LiveMarket(stored, seed=7, chunk=50).next_chunk()["EURUSD"]["close"]
    )


def test_consecutive_chunks_join_without_a_gap(stored: dict[str, pd.DataFrame]) -> None:
    market = LiveMarket(stored, seed=7, chunk=40)
    first, second = market.next_chunk(), market.next_chunk()
    step = pd.Timedelta(hours=1)
    joined = pd.concat([first["EURUSD"], second["EURUSD"]])["time"]
    gaps = joined.diff().dropna()
    assert (gaps >= step).all()
    weekday_gaps = gaps[~joined.iloc[1:].dt.dayofweek.isin((6, 0)).to_numpy()]
    assert (weekday_gaps == step).all()


def test_a_terminal_with_a_live_feed_trades_past_the_last_stored_bar() -> None:
    bars = make_replay_bars(("EURUSD", "USDJPY"), n=30)
    end = bars["EURUSD"]["time"].iloc[-1]
    term = SimTerminal(bars, start=25, feed=LiveMarket(bars, seed=1, chunk=8))
    term.initialize()

    steps = sum(term.advance() for _ in range(40))

    assert steps == 40, "the replay stopped although the feed goes on"
    assert term.bars_left() is None  # no replay length to show progress against
    assert datetime.fromtimestamp(term.now, UTC) > end.to_pydatetime()
    closed = term.copy_rates_from_pos("EURUSD", H1, 1, 20)
    assert closed["time"][-1] < term.now and (np.diff(closed["time"]) > 0).all()
    tick = term.symbol_info_tick("EURUSD")
    result = term.order_send(
        {
            "action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1,
            "type": mt5.ORDER_TYPE_BUY, "price": tick.ask, "deviation": 10, "magic": 7,
            "comment": "live", "type_filling": mt5.ORDER_FILLING_FOK,
        }
    )  # fmt: skip
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert result.price >= tick.ask  # slippage of a bar the feed made, never in the trader's favour


def test_quotes_past_the_last_stored_bar_are_the_feeds_bars() -> None:
    bars = make_replay_bars(("EURUSD", "USDJPY"), n=30)
    term = SimTerminal(bars, start=25, feed=LiveMarket(bars, seed=2, chunk=8))
    term.initialize()
    for _ in range(30):
        term.advance()
        (forming,) = term.copy_rates_from_pos("USDJPY", H1, 0, 1)
        tick, info = term.symbol_info_tick("USDJPY"), term.symbol_info("USDJPY")
        assert forming["time"] == term.now  # the feed's bar, forming now
        assert tick.bid == info.bid == forming["open"] and info.spread == forming["spread"]


def test_a_terminal_without_a_feed_still_ends_with_its_bars() -> None:
    bars = make_replay_bars(("EURUSD",), n=10)
    term = SimTerminal(bars, start=5)
    assert term.bars_left() == 5
    assert sum(term.advance() for _ in range(10)) == 4
