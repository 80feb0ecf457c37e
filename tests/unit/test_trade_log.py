"""A person reading the worker's log sees each fill once, at INFO, with what was traded:
requotes retried inside one order do not repeat the trade line."""

from __future__ import annotations

import logging

import pytest

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource

SYMBOLS = ("EURUSD", "USDJPY")


def _worker(journal: Journal) -> tuple[SimTerminal, Worker]:
    term = SimTerminal(make_replay_bars(SYMBOLS, n=40), account_mode="hedging")
    term.initialize()
    worker = Worker(
        term, Mt5Broker(term, magic=7100, sleep=lambda s: None), journal,
        FakeModelSource.with_roles("champion", "canary"), WorkerMetrics(), ReplayClock(term),
        SYMBOLS, "H1", max_volume=1.0, canary_fraction=0.05,
    )  # fmt: skip
    return term, worker


def test_each_fill_is_logged_once_at_info_with_its_fields_despite_requotes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal("sqlite://")
    term, worker = _worker(journal)
    term.inject("requote", "requote", "requote")  # the first order is retried, then fills
    with caplog.at_level(logging.INFO):
        worker.run()
    assert not term.faults, "the requotes were answered"
    trades = [r for r in caplog.records if getattr(r, "trade", False)]
    events = journal.read_order_events()
    filled = events[(events["state"] == "filled") & (events["volume"] > 0)]
    assert len(filled) > 2 and len(trades) == len(filled)
    assert all(r.levelno == logging.INFO for r in trades)
    assert {r.intent_id for r in trades} == set(filled["intent_id"])  # type: ignore[attr-defined]
    first = trades[0]
    assert first.symbol in SYMBOLS and first.side in ("buy", "sell")  # type: ignore[attr-defined]
    assert first.role in ("champion", "canary") and first.volume > 0  # type: ignore[attr-defined]
    assert first.price > 0  # type: ignore[attr-defined]
    assert f"{first.volume:g} lots at {first.price:g}" in first.getMessage()  # type: ignore[attr-defined]
