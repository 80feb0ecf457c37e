"""The worker behind its breakers: each trips with a reason that is journaled and exported, a
tripped worker opens nothing and treats held positions per policy, and reset is explicit."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from prometheus_client import generate_latest

from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.mt5.types import Tick
from serving.registry.source import LoadedModel
from serving.risk.board import BREAKER_NAMES, RiskLimits
from serving.sim.terminal import SimTerminal
from serving.worker import Clock, ReplayClock, Worker
from tests.factories import make_bars_set, make_replay_bars
from tests.fakes import FakeDecision, FakeModel, FakeModelSource

MAGIC = 9100
BREAKERS = BREAKER_NAMES
HALT = "registered model tagged halted: test"


class ScriptedModel(FakeModel):
    """Says what the script says, one (signal, confidence) per decision, then flat."""

    def __init__(self, script: list[tuple[int, float]]) -> None:
        super().__init__(window=8)
        self.script = list(script)

    def decide(self, window: np.ndarray) -> FakeDecision:
        features = super().decide(window).features
        signal, confidence = self.script.pop(0) if self.script else (0, 0.0)
        return FakeDecision(signal, confidence, 0.5, features)


def _worker(
    *,
    symbols: tuple[str, ...] = ("EURUSD", "USDJPY"),
    roles: tuple[str, ...] = ("champion", "canary"),
    source: FakeModelSource | None = None,
    journal: Journal | None = None,
    n: int = 60,
    clock: Clock | None = None,
    term: Any = None,
    **kwargs: Any,
) -> tuple[Any, Journal, FakeModelSource, Worker]:
    # start past the models' 8-bar window, so the first pass decides
    term = term or SimTerminal(make_replay_bars(symbols, n=n), account_mode="hedging", start=10)
    term.initialize()
    journal = journal or Journal("sqlite://")
    source = source or FakeModelSource.with_roles(*roles)
    worker = Worker(
        term, Mt5Broker(term, magic=MAGIC), journal, source, WorkerMetrics(),
        clock or ReplayClock(term), symbols, "H1", **kwargs,
    )  # fmt: skip
    return term, journal, source, worker


def _scripted(script: list[tuple[int, float]], policy: str) -> tuple[SimTerminal, Worker]:
    source = FakeModelSource(
        {"champion": LoadedModel("fake", "1", "champion", ScriptedModel(script))}
    )
    term, _, _, worker = _worker(
        symbols=("EURUSD",), source=source, limits=RiskLimits(tripped_policy=policy)
    )  # type: ignore[arg-type]
    return term, worker


def _gauge(worker: Worker, name: str, **labels: str) -> float | None:
    return worker.metrics.registry.get_sample_value(name, labels)


def _deals(term: SimTerminal) -> int:
    return len(term.history_deals_get(0, 2**40))


def test_a_halted_model_opens_nothing_and_the_trip_is_journaled_and_exported() -> None:
    term, journal, source, worker = _worker()
    source.halted = HALT
    worker.run()
    assert _deals(term) == 0
    decisions = journal.read_decisions()
    assert len(decisions) > 0 and (decisions["size"] == 0).all()  # still decided, no exposure
    trips = journal.read_breaker_events().query("event == 'trip'")
    assert trips[["breaker", "reason"]].values.tolist() == [["halted", HALT]]
    assert _gauge(worker, "circuit_breaker_tripped", breaker="halted") == 1
    assert all(_gauge(worker, "circuit_breaker_tripped", breaker=b) == 0 for b in BREAKERS[2:])


def test_close_policy_flattens_every_role_and_says_why_in_the_journal() -> None:
    term, journal, source, worker = _worker(limits=RiskLimits(tripped_policy="close"))
    worker.run(max_bars=20)
    held = {
        (s, r): worker.brokers[r].net_position(s) for s in worker.symbols for r in source.models
    }
    assert any(v != 0 for v in held.values())
    source.halted = HALT
    worker.run(max_bars=1)
    assert all(worker.brokers[r].net_position(s) == 0 for s, r in held)
    policy = journal.read_breaker_events().query("event == 'policy'")
    assert len(policy) == sum(v != 0 for v in held.values())
    assert policy["breaker"].eq("halted").all() and policy["value"].eq(0).all()
    orders = journal.read_order_events()
    assert set(policy["intent_id"]) <= set(orders["intent_id"])
    deals = _deals(term)
    worker.run(max_bars=10)
    assert _deals(term) == deals


def test_reduce_policy_shrinks_toward_the_model_but_never_grows_or_flips() -> None:
    _, worker = _scripted([(1, 1.0)] * 3 + [(1, 0.4), (1, 0.8), (-1, 1.0)], policy="reduce")
    broker = worker.brokers["champion"]
    worker.run(max_bars=3)
    assert broker.net_position("EURUSD") == 1.0
    worker.model_source.halted = HALT  # type: ignore[attr-defined]
    held = []
    for _ in range(3):
        worker.run(max_bars=1)
        held.append(broker.net_position("EURUSD"))
    assert held == [0.4, 0.4, 0.0]


def test_hold_policy_keeps_positions_as_they_are() -> None:
    term, worker = _scripted([(1, 1.0)] * 3 + [(-1, 1.0), (1, 0.2)], policy="hold")
    worker.run(max_bars=3)
    deals = _deals(term)
    worker.model_source.halted = HALT  # type: ignore[attr-defined]
    worker.run(max_bars=2)
    assert worker.brokers["champion"].net_position("EURUSD") == 1.0 and _deals(term) == deals


def test_reset_is_explicit_journaled_and_trading_resumes_after_it() -> None:
    term, journal, source, worker = _worker(roles=("champion",))
    source.halted = HALT
    worker.run(max_bars=5)
    source.halted = None  # the tag is gone: still tripped until someone resets
    worker.run(max_bars=5)
    assert worker.breakers.halted.tripped and _deals(term) == 0
    assert worker.reset_breaker("halted", by="alice")
    assert _gauge(worker, "circuit_breaker_tripped", breaker="halted") == 0
    worker.run(max_bars=5)
    assert _deals(term) > 0
    rows = journal.read_breaker_events("halted")
    assert rows[["event", "by"]].values.tolist() == [["trip", "worker"], ["reset", "alice"]]


def test_an_operator_reset_request_in_the_journal_is_picked_up_between_bars() -> None:
    term, journal, source, worker = _worker(roles=("champion",))
    source.halted = HALT
    worker.run(max_bars=2)
    source.halted = None
    journal.request_breaker_reset("halted", by="bob", at=datetime.now(UTC))
    worker.run(max_bars=3)
    assert not worker.breakers.tripped and _deals(term) > 0
    assert journal.read_breaker_events("halted")["event"].tolist() == [
        "trip",
        "reset_requested",
        "reset",
    ]


def test_decision_latency_over_the_slo_trips_the_latency_breaker() -> None:
    ticks = itertools.count(0.0, 0.5)  # every decision "takes" 0.5 s
    limits = RiskLimits(latency_slo_seconds=0.25, latency_window=10, latency_min_samples=5)
    _, journal, _, worker = _worker(
        roles=("champion",), limits=limits, timer=lambda: float(next(ticks))
    )
    worker.run(max_bars=20)
    assert worker.breakers.latency.tripped
    assert "> SLO 250.0 ms" in (worker.breakers.latency.reason or "")
    assert journal.read_breaker_events("latency")["event"].tolist() == ["trip"]
    assert _gauge(worker, "circuit_breaker_tripped", breaker="latency") == 1


def test_drift_of_the_key_feature_trips_against_the_training_reference() -> None:
    asked: list[tuple[str, str]] = []

    def reference(loaded: LoadedModel, feature: str) -> np.ndarray:
        asked.append((loaded.version, feature))
        return np.random.default_rng(0).normal(0.05, 0.001, 5_000)  # far from live returns

    limits = RiskLimits(drift_feature="return_1", psi_window=40, psi_min_samples=20)
    _, journal, _, worker = _worker(limits=limits, drift_reference=reference)
    worker.run()
    assert asked == [("1", "return_1")]
    assert (worker.breakers.drift.reason or "").startswith("PSI of return_1 = ")
    assert _gauge(worker, "feature_drift_psi", feature="return_1") > 0.25  # type: ignore[operator]
    assert "drift" in set(journal.read_breaker_events()["breaker"])


class StepClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class FrozenBarsTerminal:
    """A SimTerminal whose bars stop closing while its quote keeps moving (a stuck feed)."""

    def __init__(self, inner: SimTerminal, clock: StepClock) -> None:
        self._inner, self._clock = inner, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        tick = self._inner.symbol_info_tick(symbol)
        ms = int(self._clock.now().timestamp() * 1000)
        wiggle = (ms // 600_000 % 7) * 1e-5
        return None if tick is None else tick._replace(time_msc=ms, bid=tick.bid + wiggle)


def test_stale_bars_trip_when_the_terminal_stops_closing_bars() -> None:
    inner = SimTerminal(make_replay_bars(("EURUSD",), n=30), account_mode="hedging", start=10)
    clock = StepClock(inner.current_time)
    _, journal, _, worker = _worker(
        symbols=("EURUSD",), roles=("champion",), clock=clock,
        term=FrozenBarsTerminal(inner, clock),
    )  # fmt: skip
    for _ in range(3 * 60 // 10 + 2):  # live polling, every 10 minutes, no new bar
        worker.process_bar()
        clock.sleep(600)
    assert (worker.breakers.stale_bars.reason or "").startswith("EURUSD: no new closed bar")
    assert journal.read_breaker_events("stale_bars")["event"].tolist() == ["trip"]


def test_a_replay_over_a_weekend_and_a_delisting_trips_nothing() -> None:
    delisted = {"USDJPY": datetime(2022, 1, 5, tzinfo=UTC)}
    bars, _ = make_bars_set(("EURUSD", "USDJPY"), n=200, delisted=delisted)  # from a Monday
    term = SimTerminal(bars, account_mode="hedging", start=10)
    _, journal, _, worker = _worker(term=term)
    assert worker.run() == 190
    assert not worker.breakers.tripped
    assert journal.read_breaker_events().query("event == 'trip'").empty


def test_daily_loss_trips_and_survives_a_restart_of_the_worker(journal_url: str) -> None:
    url = journal_url  # a SQLite file and PostgreSQL alike
    limits = RiskLimits(daily_loss_limit=5.0)
    term, _, _, worker = _worker(roles=("champion",), journal=Journal(url), limits=limits)
    worker.run()
    assert worker.breakers.daily_loss.tripped
    pnl = _gauge(worker, "daily_pnl_account_currency")
    assert pnl is not None
    reason = worker.breakers.daily_loss.reason
    deals = _deals(term)

    _, _, _, restarted = _worker(
        roles=("champion",), journal=Journal(url), limits=limits, term=term
    )
    assert restarted.breakers.daily_loss.tripped and restarted.breakers.daily_loss.reason == reason
    assert _gauge(restarted, "circuit_breaker_tripped", breaker="daily_loss") == 1
    restarted.run()
    assert _deals(term) == deals


def test_worker_exports_orders_positions_and_pnl_by_role() -> None:
    term, _, _, worker = _worker(n=40)
    worker.run()
    worker.watch()  # the books as they stand after the last trades
    m = worker.metrics.registry
    filled = m.get_sample_value(
        "order_retcodes_total",
        {"symbol": "EURUSD", "role": "champion", "retcode": "10009", "outcome": "filled"},
    )
    assert filled is not None and filled > 0
    sends = m.get_sample_value(
        "order_send_latency_seconds_count", {"role": "champion", "symbol": "EURUSD"}
    )
    assert sends is not None and sends >= filled
    for role in ("champion", "canary"):
        for symbol in worker.symbols:
            lots = m.get_sample_value("position_volume_lots", {"role": role, "symbol": symbol})
            assert lots == worker.brokers[role].net_position(symbol)
        floating = sum(
            p.profit + p.swap for p in term.positions_get() if p.magic == worker.brokers[role].magic
        )
        assert (
            m.get_sample_value("pnl_account_currency", {"role": role, "kind": "floating"})
            == floating
        )
        assert (
            m.get_sample_value("pnl_account_currency", {"role": role, "kind": "realised_today"})
            is not None
        )
    assert m.get_sample_value("model_registry_reachable") == 1
    assert m.get_sample_value("model_version_info", {"role": "canary", "version": "2"}) == 1
    text = generate_latest(m).decode()
    for name in (
        "prediction_requests_total", "prediction_latency_seconds_bucket",
        "order_execution_errors_total", "model_prediction_value",
    ):  # fmt: skip
        assert f"# TYPE {name.removesuffix('_total').removesuffix('_bucket')}" in text
    assert all(f'circuit_breaker_tripped{{breaker="{b}"}} 0.0' in text for b in BREAKERS)
    assert tuple(b.name for b in worker.breakers) == BREAKER_NAMES


def test_sizes_shrink_with_the_drift_score_unless_drift_sizing_is_off() -> None:
    _, _, _, worker = _worker(roles=("champion",))
    _, _, _, exact = _worker(roles=("champion",), limits=RiskLimits(drift_sizing=False))
    for w in (worker, exact):
        w.breakers.drift.score = 0.175  # halfway between "no change" (0.1) and the trip (0.25)
    assert worker._size("EURUSD", "champion", 1.0) == 0.5
    assert exact._size("EURUSD", "champion", 1.0) == 1.0


def test_a_failing_drift_reference_falls_back_to_a_warm_up_and_trading_goes_on() -> None:
    def reference(loaded: LoadedModel, feature: str) -> np.ndarray:
        raise ConnectionError("registry down")

    term, journal, _, worker = _worker(roles=("champion",), drift_reference=reference)
    worker.run(max_bars=5)
    assert worker.breakers.drift.warming_up and worker.breakers.drift.feature == "return_1"
    assert len(journal.read_decisions()) == 5 * 2 and _deals(term) > 0


def test_a_trip_by_a_bars_first_order_withholds_the_rest_of_that_bar() -> None:
    model = ScriptedModel([(1, 1.0)] * 2 + [(-1, 1.0)] * 2)  # both symbols buy, then reverse
    source = FakeModelSource({"champion": LoadedModel("fake", "1", "champion", model)})
    term, journal, _, worker = _worker(source=source)
    worker.run(max_bars=1)
    assert _deals(term) == 2
    term.inject(mt5.TRADE_RETCODE_CLIENT_DISABLES_AT)  # EURUSD's close: a human must act
    worker.run(max_bars=1)
    assert worker.breaker.tripped and _deals(term) == 2
    rows = worker.executor.store.read_orders().set_index("symbol")
    assert "sent" not in set(rows["state"])  # every order has its last word in the journal
    eurusd, usdjpy = rows.loc[["EURUSD"]], rows.loc[["USDJPY"]]
    assert eurusd["state"].tolist() == ["filled", "rejected", "absent"]
    assert usdjpy["state"].tolist() == ["filled", "absent", "absent"]
    withheld = usdjpy["reason"].iloc[1:]
    assert withheld.str.startswith("not sent: order_errors: EURUSD champion: retcode 10027").all()
    decided = journal.read_decisions()
    assert len(decided) == 4 and (decided["size"] > 0).all()  # decided before the trip
