"""A version swapped in by the background poller while the worker runs: every closed bar is
decided exactly once per role, by exactly one version, and the swap lands between bars."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.registry.reader import RegistrySnapshot, VersionRecord
from serving.registry.source import AliasPoller, BackgroundPoller
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModel


class MovingReader:
    """The registry: the champion alias moves to version 2 when the test says so."""

    def __init__(self) -> None:
        self.version = "1"

    def snapshot(self, name: str) -> RegistrySnapshot:
        return RegistrySnapshot({"champion": self.version}, {})

    def model_version(self, name: str, version: str) -> VersionRecord:
        return VersionRecord("run", {})


class SlowLoader:
    """Version 2 takes a while to load (download and warm-up), on the poller's thread."""

    def __init__(self) -> None:
        self.loading = threading.Event()

    def __call__(self, name: str, version: str) -> Any:
        if version == "2":
            self.loading.set()
            threading.Event().wait(0.05)
        return FakeModel(window=8)


def test_a_background_swap_neither_skips_nor_repeats_a_bar(tmp_path: Path) -> None:
    term = SimTerminal(make_replay_bars(("EURUSD", "USDJPY"), n=400), start=20)
    term.initialize()
    reader, loader = MovingReader(), SlowLoader()
    source = BackgroundPoller(AliasPoller("m", reader, loader), interval_seconds=0.001).start()
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    worker = Worker(term, Mt5Broker(term, magic=7, sleep=lambda s: None), journal, source,
                    WorkerMetrics(), ReplayClock(term), ("EURUSD", "USDJPY"), "H1")  # fmt: skip
    try:
        worker.run(max_bars=40)
        reader.version = "2"
        assert loader.loading.wait(10)
        bars = worker.run(max_bars=300)  # the swap lands somewhere in here
    finally:
        source.stop()
    decisions = journal.read_decisions()
    assert set(decisions["model_version"]) == {"1", "2"}
    per_bar = decisions.groupby(["symbol", "bar_time"])["model_version"].agg(list)
    assert per_bar.map(len).eq(1).all()  # no bar decided twice, not even across the swap
    for symbol in ("EURUSD", "USDJPY"):
        times = decisions.loc[decisions["symbol"] == symbol, "bar_time"].sort_values()
        assert len(times) == 40 + bars  # no bar skipped
        versions = decisions.loc[decisions["symbol"] == symbol].sort_values("bar_time")
        switched = versions["model_version"].to_numpy()
        assert (switched[:-1] <= switched[1:]).all()  # 1…1 then 2…2: one swap, between bars
