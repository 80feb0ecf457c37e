"""A worker with no loadable model refuses loudly instead of idling quietly, comes back when a
model loads, and asks its model source only as often as it is told."""

from __future__ import annotations

import pytest

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.registry.source import LoadedModel
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModel, FakeModelSource

SYMBOLS = ("EURUSD", "USDJPY")


def _worker(source: FakeModelSource, *, refresh_every_bars: int = 1) -> tuple[Worker, Journal]:
    term = SimTerminal(make_replay_bars(SYMBOLS, n=40))
    term.initialize()
    journal = Journal("sqlite://")
    worker = Worker(
        term, Mt5Broker(term, magic=9100), journal, source, WorkerMetrics(), ReplayClock(term),
        SYMBOLS, "H1", refresh_every_bars=refresh_every_bars,
    )  # fmt: skip
    return worker, journal


def _refused(worker: Worker) -> float | None:
    return worker.metrics.registry.get_sample_value("trading_refused")


def test_no_model_for_any_role_is_said_once_and_refuses_trading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeModelSource()
    source.unavailable = {"champion": "champion -> 'm' v1 failed to load: digest differs"}
    worker, journal = _worker(source)
    with caplog.at_level("ERROR", logger="serving.worker"):
        assert worker.run(max_bars=10) == 10
    said = [r.getMessage() for r in caplog.records if "no model to trade" in r.getMessage()]
    assert said == [
        "no model to trade, refusing: champion -> 'm' v1 failed to load: digest differs"
    ]
    assert _refused(worker) == 1.0
    assert journal.read_decisions().empty and worker.summary() == {}


def test_trading_resumes_when_a_model_loads() -> None:
    source = FakeModelSource()
    worker, journal = _worker(source)
    worker.run(max_bars=3)
    assert worker.no_model is not None and _refused(worker) == 1.0
    source.models = {"champion": LoadedModel("m", "1", "champion", FakeModel())}
    source.unavailable = {}
    worker.run(max_bars=12)  # past the model's 8-bar window
    assert worker.no_model is None and _refused(worker) == 0.0
    assert worker.summary()["champion"]["decided"] == len(journal.read_decisions()) > 0


def test_an_unreachable_registry_is_named_as_the_reason() -> None:
    source = FakeModelSource()
    source.registry_reachable = False
    worker, _ = _worker(source)
    worker.run(max_bars=2)
    assert worker.no_model == "no model to trade, refusing: the model registry is unreachable"


def test_the_source_is_refreshed_every_n_bars_so_a_swap_lands_on_the_same_bar() -> None:
    source = FakeModelSource.with_roles("champion")
    worker, _ = _worker(source, refresh_every_bars=5)
    worker.run(max_bars=12)
    assert source.refreshes == 3  # before bars 0, 5 and 10


def test_load_failures_reach_the_metrics_as_a_counter() -> None:
    source = FakeModelSource.with_roles("champion")
    source.failures = {("canary", "4"): 2}
    worker, _ = _worker(source)
    worker.run(max_bars=1)
    source.failures = {("canary", "4"): 3}
    worker.run(max_bars=1)
    labels = {"role": "canary", "version": "4"}
    assert worker.metrics.registry.get_sample_value("model_load_failures_total", labels) == 3.0


def test_refresh_every_bars_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="refresh_every_bars"):
        _worker(FakeModelSource(), refresh_every_bars=0)
