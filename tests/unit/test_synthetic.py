"""The synthetic market has the traits the lifecycle needs, deterministically."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from data_contracts.schema import RATE_COLUMNS, coerce_bars
from data_contracts.synthetic import SyntheticMarket, generate_market


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_market()


def test_same_seed_same_bars_and_other_seed_other_bars(market: SyntheticMarket) -> None:
    again = generate_market()
    for symbol, bars in market.bars.items():
        pd.testing.assert_frame_equal(bars, again.bars[symbol])
    other = generate_market(seed=8)
    assert not other.bars["EURUSD"]["close"].equals(market.bars["EURUSD"]["close"])


def test_bars_have_the_mt5_rate_layout_and_pass_the_schema(market: SyntheticMarket) -> None:
    for symbol, bars in market.bars.items():
        assert tuple(bars.columns) == RATE_COLUMNS
        assert str(bars["time"].dtype) == "datetime64[ns, UTC]"
        coerce_bars(bars, source=f"synthetic:{symbol}")
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
        assert (bars["tick_volume"] > 0).all() and (bars["real_volume"] == 0).all()
        assert bars["time"].is_monotonic_increasing and bars["time"].is_unique


def test_prices_are_rounded_to_each_symbols_point(market: SyntheticMarket) -> None:
    for symbol, bars in market.bars.items():
        ticks = bars["close"].to_numpy() / market.points[symbol]
        np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    assert market.points["USDJPY"] == 1e-3 and market.points["EURUSD"] == 1e-5


def test_spreads_are_realistic_and_widen_after_the_regime_change(market: SyntheticMarket) -> None:
    bars = market.bars["EURUSD"]
    before = bars.loc[bars["time"] < market.regime_change_at, "spread"].median()
    after = bars.loc[bars["time"] >= market.regime_change_at, "spread"].median()
    assert 10 <= before <= 20
    assert after > 1.8 * before


def test_no_bars_in_the_fx_weekend(market: SyntheticMarket) -> None:
    times = market.bars["EURUSD"]["time"].dt
    weekend = ((times.dayofweek == 4) & (times.hour >= 22)) | (times.dayofweek == 5)
    weekend |= (times.dayofweek == 6) & (times.hour < 22)
    assert not weekend.any()
    gaps = market.bars["EURUSD"]["time"].diff().dropna()
    assert (gaps == pd.Timedelta(hours=48) + pd.Timedelta(hours=1)).sum() >= 70


def test_delisted_symbol_stops_half_way_and_the_universe_says_when(
    market: SyntheticMarket,
) -> None:
    universe = market.universe.set_index("symbol")
    delisted_at = universe.loc["USDCHF", "delisted_at"]
    assert market.bars["USDCHF"]["time"].max() < delisted_at
    assert len(market.bars["USDCHF"]) == pytest.approx(len(market.bars["EURUSD"]) / 2, abs=1)
    assert universe.drop(index="USDCHF")["delisted_at"].isna().all()
    assert str(universe["listed_from"].dtype) == "datetime64[ns, UTC]"


def test_regime_change_is_late_and_raises_volatility(market: SyntheticMarket) -> None:
    bars = market.bars["GBPUSD"]
    position = (bars["time"] < market.regime_change_at).mean()
    assert 0.85 <= position <= 0.9
    returns = np.log(bars["close"]).diff()
    after = bars["time"] >= market.regime_change_at
    assert returns[after].std() > 1.5 * returns[~after].std()


def test_naive_start_and_unknown_delisted_symbol_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_market(start=datetime(2022, 1, 3))  # noqa: DTZ001
    with pytest.raises(ValueError, match="delisted"):
        generate_market(delisted="XAUUSD")


def test_other_timeframes_and_start_dates_work() -> None:
    small = generate_market(
        start=datetime(2023, 3, 1, tzinfo=UTC), n_days=30, timeframe="M15", delisted=None
    )
    assert small.bars["EURUSD"]["time"].diff().min() == pd.Timedelta(minutes=15)
