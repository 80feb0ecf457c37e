"""The decision path's timings, run inside the worker-shaped child of ``bench/decision_path.py``.

The champion's per-bar path (``decide``, the breakers' per-decision work, sizing, the MT5
request built against a terminal answering from memory) interleaved with a bare
``Booster.predict``; the pieces of that path, each alone; and the pyfunc contract the hot
path avoids. Imported, never run (``make bench`` runs ``bench/[!_]*.py``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench._common import percentiles
from bench._decision_models import MAGIC, NAMES_30, SYMBOL
from data_contracts.symbols import lookup_spec
from models.sizing import size_from_confidence
from models.strategies.lgbm_momentum import WINDOW, FeatureState
from serving.execution.broker import Mt5Broker
from serving.execution.events import choose_filling
from serving.identities import make_intent_id
from serving.mt5 import constants as mt5
from serving.mt5.types import RATES_FIELDS
from serving.risk.board import RiskLimits, WorkerBreakers
from serving.risk.policy import PositionCap, drift_scale


class MemoryTerminal:
    """Just enough of the MT5 API for ``Mt5Broker.plan`` to plan against, answered from
    memory: a netting account holding +0.5 lots, so almost every target needs an order."""

    def __init__(self, symbol: str) -> None:
        spec = lookup_spec(symbol)
        self.info = SimpleNamespace(
            name=symbol,
            volume_min=spec.volume_min,
            volume_max=spec.volume_max,
            volume_step=spec.volume_step,
            filling_mode=spec.filling_mode,
            point=spec.point,
        )
        self.account = SimpleNamespace(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
        self.positions = (
            SimpleNamespace(ticket=1, magic=MAGIC, type=mt5.POSITION_TYPE_BUY, volume=0.5),
        )
        self.tick = SimpleNamespace(time=0, bid=1.1, ask=1.10012)

    def symbol_info(self, symbol: str) -> Any:
        return self.info

    def symbol_info_tick(self, symbol: str) -> Any:
        return self.tick

    def account_info(self) -> Any:
        return self.account

    def positions_get(self, symbol: str | None = None) -> Any:
        return self.positions

    def orders_get(self, symbol: str | None = None) -> Any:
        return ()


def time_decision_path(
    model: Any, canary: Any, rates: np.ndarray, warmup: int, count: int
) -> dict[str, Any]:
    """Interleaved per-bar timings of the champion's decision path and of the bare predict
    (the canary decides each bar too, untimed, as it does in the worker)."""
    terminal = MemoryTerminal(SYMBOL)
    broker = Mt5Broker(terminal, magic=MAGIC)
    # The latency breaker's per-decision cost is timed; its verdict is not the point here, and
    # a trip on a contended machine would change the path (no request) half way through.
    limits = RiskLimits(latency_slo_seconds=3600.0)
    breakers = WorkerBreakers(lambda: datetime.now(UTC), "H1", limits)
    cap = PositionCap(1.0)
    booster = model.booster
    row = np.zeros((1, len(NAMES_30)), dtype=np.float64)
    clock = time.perf_counter_ns
    path_ns = np.empty(count, dtype=np.int64)
    bare_ns = np.empty(count, dtype=np.int64)
    requests = 0
    last_latency = 0.0
    for i in range(warmup + count):
        end = WINDOW + i
        window = rates[end - WINDOW : end]

        start = clock()
        booster.predict(row, num_threads=1)
        bare = clock() - start

        start = clock()
        decision = model.decide(window)
        # the worker's per-decision breaker work
        breakers.latency.observe(last_latency)
        breakers.drift.observe(float(decision.features[0]))
        tripped = breakers.tripped
        # sizing
        info = terminal.symbol_info(SYMBOL)
        scale = drift_scale(breakers.drift.score, zero_at=limits.psi_threshold)
        size = size_from_confidence(
            decision.confidence * scale,
            max_volume=1.0,
            min_volume=info.volume_min,
            volume_step=info.volume_step,
        )
        target = cap.apply(decision.signal * size)
        intent_id = make_intent_id("1", "champion", SYMBOL, int(window["time"][-1]))
        # the order request, as Mt5Broker builds it before order_check/order_send
        built = []
        if not tripped:
            filling = choose_filling(info.filling_mode)
            for order in broker.plan(SYMBOL, target, intent_id=intent_id) or ():
                tick = terminal.symbol_info_tick(SYMBOL)
                price = tick.ask if order.buy else tick.bid
                built.append(broker._request(order, filling, price))
        path = clock() - start

        last_latency = path * 1e-9
        canary.decide(window)
        row[0] = decision.features  # the next bare predict sees a real row
        if i >= warmup:
            path_ns[i - warmup], bare_ns[i - warmup] = path, bare
            requests += bool(built)
    assert not breakers.tripped, breakers.reasons()
    tight: dict[str, tuple[float, float]] = {}
    for label, threads in (("num_threads=1", {"num_threads": 1}), ("default threads", {})):
        tight_ns = np.empty(count, dtype=np.int64)
        for i in range(count):  # for the printout: predict with caches warm
            start = clock()
            booster.predict(row, **threads)
            tight_ns[i] = clock() - start
        tight[label] = percentiles(tight_ns)
    return {
        "bare_tight": tight,
        "path": percentiles(path_ns),
        "bare": percentiles(bare_ns),
        "requests": requests / count,
        "rebuilds": model.rebuilds,
    }


def time_components(model: Any, rates: np.ndarray, count: int) -> dict[str, float]:
    """p50 of the pieces, each timed alone (for the printout, not the results)."""
    clock = time.perf_counter_ns
    state = FeatureState(NAMES_30)
    names = ("high", "low", "close", "tick_volume", "spread")
    columns = [rates[name].tolist() for name in names]
    state.rebuild(*(np.asarray(c[:WINDOW]) for c in columns))
    push_ns = []
    for t in range(WINDOW, WINDOW + count):
        bar = [c[t] for c in columns]
        start = clock()
        state.push(*bar)
        push_ns.append(clock() - start)
    predictor = model._predictor
    values = state.values
    predict_ns = []
    for _ in range(count):
        start = clock()
        predictor.predict(values)
        predict_ns.append(clock() - start)
    breakers = WorkerBreakers(lambda: datetime.now(UTC), "H1", RiskLimits())
    latency_ns = []
    for _ in range(count):
        start = clock()
        breakers.latency.observe(3e-5)
        latency_ns.append(clock() - start)
    for value in np.random.default_rng(0).normal(size=breakers.drift.window * 2):
        breakers.drift.observe(float(value))
    psi_ns = []
    for _ in range(200):
        start = clock()
        breakers.drift.evaluate()
        psi_ns.append(clock() - start)
    return {
        "FeatureState.push (30 features)": float(np.median(push_ns)) * 1e-9,
        "RowPredictor.predict (single-row C API)": float(np.median(predict_ns)) * 1e-9,
        "LatencyBreaker.observe": float(np.median(latency_ns)) * 1e-9,
        "DriftBreaker.evaluate (per bar, untimed in the path)": float(np.median(psi_ns)) * 1e-9,
    }


def time_pyfunc_predict(loaded: Any, rates: np.ndarray, count: int) -> float:
    """p50 of the pyfunc contract on one window as a DataFrame (what the hot path avoids)."""
    import pandas as pd

    frame = pd.DataFrame({name: rates[name][:WINDOW] for name in RATES_FIELDS})
    frame = frame.astype({"tick_volume": "int64", "real_volume": "int64", "spread": "int64"})
    loaded.predict(frame)
    ns = []
    for _ in range(count):
        start = time.perf_counter_ns()
        loaded.predict(frame)
        ns.append(time.perf_counter_ns() - start)
    return float(np.median(ns)) * 1e-9
