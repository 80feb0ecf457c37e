"""The worker-path benchmark's set-up: the trained champion and canary, the replayed market,
the worker as ``flows.serve.run_worker`` assembles it on a sim terminal, and the journal file
it writes (``bench/worker_path.py`` times and profiles what this builds)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

import lightgbm as lgb
import pandas as pd

from data_contracts.synthetic import generate_market
from models.strategies.lgbm_momentum import STRATEGY, LgbmMomentumModel
from models.train_config import TrainConfig
from models.training import TrainingOutcome, run_training
from serving.clocks import ReplayClock
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.registry.source import LoadedModel
from serving.risk.board import RiskLimits
from serving.sim.terminal import SimTerminal
from serving.worker import Worker

SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY")
HOLDOUT_BARS = 3_400  # × 3 symbols × 2 roles = 20,400 decisions
MODEL_NAME = "bench-worker-path"
MAGIC = 7200


class StaticModels:
    """A ``ModelSource`` holding champion and canary in memory: no registry in the path."""

    def __init__(self, models: Mapping[str, LoadedModel]) -> None:
        self._models = MappingProxyType(dict(models))
        self.registry_reachable = True
        self.halted: str | None = None
        self.unavailable: Mapping[str, str] = MappingProxyType({})
        self.failures: Mapping[tuple[str, str], int] = MappingProxyType({})

    def current(self) -> Mapping[str, LoadedModel]:
        return self._models

    def refresh(self) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class Trained:
    """The market, its hold-out start and the two boosters with their configs."""

    bars: dict[str, pd.DataFrame]
    holdout_start: pd.Timestamp
    outcomes: dict[str, TrainingOutcome]

    def models(self) -> dict[str, LoadedModel]:
        """Fresh model instances (empty feature streams), as a worker has after loading."""
        loaded = {}
        for version, (role, outcome) in enumerate(self.outcomes.items(), start=1):
            model = LgbmMomentumModel()
            assert isinstance(outcome.booster, lgb.Booster)  # the LightGBM family's fit
            model.use_booster(outcome.booster, outcome.model_config)
            loaded[role] = LoadedModel(MODEL_NAME, str(version), role, model)
        return loaded


def train(holdout_bars: int) -> Trained:
    """Champion and canary trained on the bars before the hold-out (production training)."""
    market = generate_market(symbols=SYMBOLS, delisted=None)
    config = TrainConfig(holdout_bars=holdout_bars)
    outcomes = {
        "champion": run_training(STRATEGY, market.bars, config, points=market.points),
        "canary": run_training(
            STRATEGY,
            market.bars,
            dataclasses.replace(config, num_boost_round=100),
            points=market.points,
        ),
    }
    start = pd.Timestamp(outcomes["champion"].holdout_start)
    return Trained(market.bars, start, outcomes)


def replay_bars(trained: Trained, bar_times: int) -> dict[str, pd.DataFrame]:
    """The market up to the hold-out's ``bar_times``-th bar time (the replay's last bar)."""
    times = pd.concat([f["time"] for f in trained.bars.values()]).drop_duplicates().sort_values()
    first = int(times.searchsorted(trained.holdout_start))
    last = times.iloc[min(first + bar_times, len(times) - 1)]
    return {s: f.loc[f["time"] <= last].reset_index(drop=True) for s, f in trained.bars.items()}


def sim_terminal(bars: Mapping[str, pd.DataFrame], start: pd.Timestamp) -> SimTerminal:
    term = SimTerminal(
        bars, account_mode="hedging", start=start.to_pydatetime(), balance=10_000_000.0
    )
    term.initialize()
    return term


def build_worker(
    terminal: SimTerminal,
    journal: Journal,
    models: Mapping[str, LoadedModel],
    timer: Callable[[], float] = time.perf_counter,
) -> Worker:
    """The worker as ``flows.serve.run_worker`` assembles it on a sim terminal (kept in one
    place: the constructor may gain arguments)."""
    clock = ReplayClock(terminal)
    broker = Mt5Broker(terminal, magic=MAGIC, now=clock.now, sleep=clock.sleep)
    limits = RiskLimits(latency_slo_seconds=3600.0, psi_threshold=float("inf"))
    return Worker(
        terminal,
        broker,
        journal,
        StaticModels(models),
        WorkerMetrics(),
        clock,
        SYMBOLS,
        "H1",
        max_volume=1.0,
        canary_fraction=0.05,
        limits=limits,
        timer=timer,
    )


@contextmanager
def journal_file(directory: Path) -> Iterator[Journal]:
    journal = Journal(f"sqlite:///{directory / 'journal.sqlite'}")
    try:
        yield journal
    finally:
        journal.close()


def decisions_in(journal: Journal) -> int:
    with journal.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM decisions").scalar_one())


def orders_in(journal: Journal) -> int:
    with journal.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM order_events").scalar_one())


def journal_mode(journal: Journal) -> str:
    with journal.engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one())
