"""The look-ahead and warm-up analysis catches each planted defect, names it, and passes the
shipped strategies."""

from __future__ import annotations

import pandas as pd
import pytest

from data_contracts.synthetic import generate_market
from models.lookahead import LOOKAHEAD, RECURSIVE, SIGNAL, analyse_strategy, report_markdown
from models.strategies import STRATEGIES
from tests.planted_strategies import PlantedStrategy


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    market = generate_market(symbols=("EURUSD",), delisted=None, n_days=40)
    return market.bars["EURUSD"]


@pytest.mark.parametrize(
    ("defect", "feature"),
    [
        ("shift_minus_one", "next_ret"),
        ("centred_window", "ma_gap_centred"),
        ("whole_sample_norm", "ret_z"),
    ],
)
def test_lookahead_names_the_feature_that_reads_the_future(
    bars: pd.DataFrame, defect: str, feature: str
) -> None:
    report = analyse_strategy(PlantedStrategy(defect), bars)
    assert not report.passed
    found = {f.feature: f for f in report.failed(LOOKAHEAD)}
    assert set(found) - {SIGNAL} == {feature}  # the clean features are not blamed
    # the first checked bar (the first full window) already reads the future
    assert found[feature].first_time == bars["time"].iloc[PlantedStrategy().window - 1]
    assert report.failed(RECURSIVE) == ()  # reported once, as look-ahead
    assert feature in report_markdown([report])


def test_lookahead_compares_signals_too(bars: pd.DataFrame) -> None:
    report = analyse_strategy(PlantedStrategy("shift_minus_one"), bars)
    assert report.signals_checked
    assert SIGNAL in {f.feature for f in report.failed(LOOKAHEAD)}


def test_too_short_declared_warmup_fails_the_recursive_check_with_the_warmup_needed(
    bars: pd.DataFrame,
) -> None:
    report = analyse_strategy(PlantedStrategy("short_warmup", window=13), bars)
    assert report.failed(LOOKAHEAD) == ()
    (finding,) = report.failed(RECURSIVE)
    assert finding.feature == "mean_40"
    assert finding.needed_warmup == 40  # 40 returns need 40 bars before the bar decided on
    assert "needs a warm-up of 40 bars" in finding.detail


def test_declaring_the_warmup_the_feature_needs_passes(bars: pd.DataFrame) -> None:
    assert analyse_strategy(PlantedStrategy("short_warmup", window=41), bars).passed


def test_a_feature_with_unbounded_memory_needs_the_whole_history(bars: pd.DataFrame) -> None:
    (finding,) = analyse_strategy(PlantedStrategy("ewm_memory"), bars).findings
    assert finding.check == RECURSIVE and finding.feature == "ewm_ret"
    assert finding.needed_warmup is None and "whole history" in finding.detail


def test_a_clean_strategy_passes(bars: pd.DataFrame) -> None:
    assert analyse_strategy(PlantedStrategy(), bars).passed


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_shipped_strategies_pass(bars: pd.DataFrame, name: str) -> None:
    report = analyse_strategy(STRATEGIES[name], bars)
    assert report.passed, report_markdown([report])
    assert report.signals_checked


def test_too_few_bars_is_refused(bars: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="at least"):
        analyse_strategy(PlantedStrategy(), bars.iloc[:20])
