"""The drift flow on what the worker journaled: the hold-out's regime change is flagged, while an
in-sample control replay of the same model flags nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.drift_flow import drift_report
from flows.serve import run_worker
from flows.settings import TateSettings
from flows.terminals import holdout_start
from flows.train_flow import log_and_register
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, run_training

# A worker replay and a drift report per test: 94 s and 160 s measured on a loaded 2-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drift") / "home"
    market = generate_market()
    store = BarStore(root / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(root))
        settings = TateSettings()
        bars = store.read_bars_set("H1")
        outcome = run_training(STRATEGY, bars, replace(TrainConfig(), num_boost_round=60))
        assert log_and_register.fn(settings, outcome, bars, "drift")["alias"] == "champion"
    return root


def replay_and_report(
    home: Path, journal: str, start: pd.Timestamp | None, bars: int | None
) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        patch.setenv("TATE_JOURNAL_URL", f"sqlite:///{home / journal}")
        settings = TateSettings()
        run_worker(settings, max_bars=bars, metrics_port=0, start=start)
        return drift_report()


def test_in_sample_control_window_flags_nothing(home: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        start = holdout_start(TateSettings()) - timedelta(days=60)
    result = replay_and_report(home, "control.sqlite", start, bars=24 * 20)
    table = pd.read_csv(result["table"], index_col=0)
    assert not result["drifted"], table[["psi", "ks"]]
    assert len(table) == 12


def test_hold_out_regime_change_is_flagged(home: Path) -> None:
    result = replay_and_report(home, "holdout.sqlite", None, bars=None)
    table = pd.read_csv(result["table"], index_col=0)
    assert result["drifted"]
    assert table["drifted"].any()
    assert Path(result["report"]).read_text().count("<html") >= 1
