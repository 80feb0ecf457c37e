"""The worker's Prometheus metrics, declared in one place with full-word names and units.

Each ``WorkerMetrics`` owns a private ``CollectorRegistry`` so two workers (or two tests) in
one process never collide on the global registry. Alert rules and dashboards in ``infra/``
refer to these names (``infra/prometheus/rules.yml``; change both together).

Units are in the names: ``_seconds``, ``_lots``, ``_account_currency`` (the account's deposit
currency), ``_total`` for counters; ``_info`` gauges carry their facts in labels with value 1;
``feature_drift_psi`` is a dimensionless index.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from models.slo import GOOD_OUTCOMES, LATENCY_SLO_SECONDS
from serving.risk.positions import RoleBook

logger = logging.getLogger(__name__)

# one decision is tens of microseconds to a few milliseconds; the tail matters; 0.2 is the
# decision-latency SLO's default threshold (models.slo), so recording rules can read it
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 1.0
)  # fmt: skip
# one order_send is a millisecond on a SimTerminal and up to seconds through a bridge
ORDER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


Add = Callable[[float], None]
"""Adds to one sample's value (a child's ``_value.inc``)."""


class Observer:
    """``Histogram.observe`` of one labelled child, by its sample values directly.

    The worker observes a few times per decision; ``observe`` re-checks on every call that
    the child is one (it is) and walks the buckets one by one. This does the same two
    additions — the sum, then the first bucket whose bound is not below the amount (none for
    NaN) — through the child's values (``prometheus_client`` 0.26, pinned; a test holds the
    exposition equal to ``observe``'s).
    """

    __slots__ = ("add_sum", "bounds", "buckets")

    def __init__(self, child: Any) -> None:
        self.add_sum: Add = child._sum.inc
        self.bounds: list[float] = list(child._upper_bounds)
        self.buckets: list[Add] = [bucket.inc for bucket in child._buckets]

    def observe(self, amount: float) -> None:
        self.add_sum(amount)
        if amount == amount:  # NaN: no bucket, as ``observe`` (every ``<=`` is false)
            self.buckets[bisect_left(self.bounds, amount)](1)


def adder(child: Any) -> Add:
    """``child.inc`` of a labelled counter child, without its per-call checks (labelled, not
    negative: the worker adds 1) — its value's ``inc`` (``prometheus_client`` 0.26, pinned)."""
    inc: Add = child._value.inc
    return inc


def setter(child: Any) -> Add:
    """``child.set`` of a labelled gauge child (not in ``mostrecent`` mode: none here), without
    its per-call check — its value's ``set``; the caller passes a float, as ``set`` makes one
    (``prometheus_client`` 0.26, pinned)."""
    assert not child._is_most_recent
    set_value: Add = child._value.set
    return set_value


class WorkerMetrics:
    """Counters, histograms and gauges the worker updates per bar, symbol and role."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._load_failures_seen: dict[tuple[str, str], int] = {}
        # labelled children by (metric, label values): ``.labels()`` validates and hashes its
        # arguments on every call, several times per decision
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        # per (role, symbol): requests, latency, probability and the latency SLO's adders by
        # result (each made on its first event: a child exists once it was used)
        self._decision_children: dict[tuple[str, str], tuple[Add, Observer, Add, dict[str, Add]]]
        self._decision_children = {}
        # per (symbol, role): the send latency, the execution SLO's adders by result and the
        # retcodes' adders by (retcode, outcome)
        self._order_children: dict[
            tuple[str, str], tuple[Observer, dict[str, Add], dict[tuple[int | None, str], Add]]
        ] = {}
        self._adders: dict[tuple[int, tuple[str, ...]], Add] = {}
        self._refusing: bool | None = None  # the last value set, by ``set_refusing``
        self._versions: dict[str, str] | None = None
        self.latency_slo_seconds = LATENCY_SLO_SECONDS  # a decision over it is a bad SLO event
        self._breaker_states: dict[str, bool] | None = None
        self._book_children: dict[tuple[str, tuple[str, ...]], tuple[list[Any], Any, Any]] = {}
        self._book_values: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {}
        self._drift_child: tuple[str, Any] | None = None  # dropped by ``clear_feature_drift``
        r = self.registry
        self.prediction_requests = Counter(
            "prediction_requests", "Model decisions made", ["role", "symbol"], registry=r
        )
        self.prediction_latency = Histogram(
            "prediction_latency_seconds",
            "Time spent in model.decide for one closed bar",
            ["role"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.order_execution_errors = Counter(
            "order_execution_errors",
            "Orders that did not fill, by retcode ('none' when order_send gave no answer)",
            ["symbol", "role", "retcode"],
            registry=r,
        )
        self.model_prediction_value = Gauge(
            "model_prediction_value",
            "Latest predicted probability of an up move",
            ["role", "symbol"],
            registry=r,
        )
        self.bars_processed = Counter(
            "bars_processed", "Closed bars the worker has processed", registry=r
        )
        self.count_bars: Add = adder(self.bars_processed)  # its inc (unlabelled: its own value)
        self.last_bar_timestamp = Gauge(
            "last_bar_timestamp_seconds", "Open time of the last closed bar processed", registry=r
        )
        self.registry_reachable = Gauge(
            "model_registry_reachable", "1 when the last alias refresh reached MLflow", registry=r
        )
        self.trading_refused = Gauge(
            "trading_refused",
            "1 while the worker refuses to trade: no role has a loadable model, or start-up "
            "reconciliation found journal and terminal disagreeing",
            registry=r,
        )
        self.model_load_failures = Counter(
            "model_load_failures",
            "Attempts to load a version for a role that failed or were refused (retried with "
            "back-off)",
            ["role", "version"],
            registry=r,
        )

        self.circuit_breaker_tripped = Gauge(
            "circuit_breaker_tripped",
            "1 while the breaker stops new positions (any: max without the label)",
            ["breaker"],
            registry=r,
        )
        self.order_send_latency = Histogram(
            "order_send_latency_seconds",
            "Time from order_send to its answer, retries and reconciliation included",
            ["role", "symbol"],
            buckets=ORDER_BUCKETS,
            registry=r,
        )
        self.order_retcodes = Counter(
            "order_retcodes",
            "Every order event by retcode ('none': no answer) and its outcome (filled, rejected…)",
            ["symbol", "role", "retcode", "outcome"],
            registry=r,
        )
        self.position_volume = Gauge(
            "position_volume_lots", "Net lots held (buy positive) by role", ["role", "symbol"],
            registry=r,
        )  # fmt: skip
        self.pnl = Gauge(
            "pnl_account_currency",
            "Profit by role: kind=floating (open positions now), realised_today (deals since "
            "the trading day began); sum by role for the total",
            ["role", "kind"],
            registry=r,
        )
        self.daily_pnl = Gauge(
            "daily_pnl_account_currency",
            "The trading day's PnL of all roles, as the daily-loss breaker compares it",
            registry=r,
        )
        self.feature_drift = Gauge(
            "feature_drift_psi", "PSI of the key feature over the drift breaker's window",
            ["feature"], registry=r,
        )  # fmt: skip
        self.slo_events = Counter(
            "slo_events",
            "SLO events by role and result (good|bad): slo=execution (an order filled, placed or "
            "a documented non-error; models.slo) or slo=latency (decide within the SLO threshold)",
            ["slo", "role", "result"],
            registry=r,
        )
        self.model_version = Gauge(
            "model_version_info", "Model version serving each role (value 1)", ["role", "version"],
            registry=r,
        )  # fmt: skip

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once (not for a metric that is cleared)."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def _adder(self, metric: Any, *values: str) -> Add:
        """``adder`` of ``metric.labels(*values)``, made once (not for a metric that is cleared)."""
        key = (id(metric), values)
        add = self._adders.get(key)
        if add is None:
            add = self._adders[key] = adder(self._child(metric, *values))
        return add

    def observe_decision(self, role: str, symbol: str, latency: float, probability: float) -> None:
        children = self._decision_children.get((role, symbol))
        if children is None:  # every decision: the children found with one lookup
            children = self._decision_children[(role, symbol)] = (
                self._adder(self.prediction_requests, role, symbol),
                Observer(self._child(self.prediction_latency, role)),
                setter(self._child(self.model_prediction_value, role, symbol)),
                {},
            )
        requests, latencies, value, slo = children
        requests(1)
        latencies.observe(latency)
        value(float(probability))
        result = "good" if latency <= self.latency_slo_seconds else "bad"
        add = slo.get(result)
        if add is None:
            add = slo[result] = self._adder(self.slo_events, "latency", role, result)
        add(1)

    def count_order_error(self, symbol: str, role: str, retcode: int | None) -> None:
        label = "none" if retcode is None else str(retcode)
        self._adder(self.order_execution_errors, symbol, role, label)(1)

    def observe_order(
        self, symbol: str, role: str, retcode: int | None, outcome: str, latency: float
    ) -> None:
        """Count every order event by retcode and outcome, and time it; non-fills are errors."""
        children = self._order_children.get((symbol, role))
        if children is None:
            children = self._order_children[(symbol, role)] = (
                Observer(self._child(self.order_send_latency, role, symbol)),
                {},
                {},
            )
        latencies, slo, retcodes = children
        count = retcodes.get((retcode, outcome))  # the retcode's adder, found by one look-up
        if count is None:
            label = "none" if retcode is None else str(retcode)
            count = retcodes[(retcode, outcome)] = self._adder(
                self.order_retcodes, symbol, role, label, outcome
            )
        count(1)
        latencies.observe(latency)
        result = "good" if outcome in GOOD_OUTCOMES else "bad"
        add = slo.get(result)
        if add is None:
            add = slo[result] = self._adder(self.slo_events, "execution", role, result)
        add(1)
        if outcome not in ("filled", "pending"):
            self.count_order_error(symbol, role, retcode)

    def set_refusing(self, reason: str | None) -> None:
        """1 while the worker refuses to trade (no model loads, or the books disagree).
        Called every bar: set only on a change (nothing else writes this gauge)."""
        refusing = reason is not None
        if refusing is self._refusing:
            return
        self._refusing = refusing
        self.trading_refused.set(1 if refusing else 0)

    def count_load_failures(self, failures: Mapping[tuple[str, str], int]) -> None:
        """Bring ``model_load_failures_total`` up to the source's running counts."""
        for (role, version), count in failures.items():
            child = self.model_load_failures.labels(role=role, version=version)
            seen = self._load_failures_seen.get((role, version), 0)
            if count > seen:
                child.inc(count - seen)
                self._load_failures_seen[(role, version)] = count

    def set_breakers(self, states: Mapping[str, bool]) -> None:
        """One gauge per breaker, 1 while tripped. Called every bar: set only on a change
        (nothing else writes these gauges)."""
        if states == self._breaker_states:
            return
        self._breaker_states = dict(states)
        for name, tripped in states.items():
            self._child(self.circuit_breaker_tripped, name).set(1 if tripped else 0)

    def set_book(self, books: Mapping[str, RoleBook], symbols: Sequence[str]) -> None:
        """Every role's lots per symbol (0 when flat, so a closed position reads 0) and PnL.
        Called every bar: a role's children are looked up once for its symbols, and a role
        whose figures are the ones it last set is skipped (nothing else writes these gauges)."""
        symbols = tuple(symbols)
        for role, book in books.items():
            held = book.volumes
            figures = (*[held.get(s, 0.0) for s in symbols], book.floating, book.realised)
            if self._book_values.get((role, symbols)) == figures:
                continue
            self._book_values[(role, symbols)] = figures
            children = self._book_children.get((role, symbols))
            if children is None:
                children = self._book_children[(role, symbols)] = (
                    [self._child(self.position_volume, role, s) for s in symbols],
                    self._child(self.pnl, role, "floating"),
                    self._child(self.pnl, role, "realised_today"),
                )
            volumes, floating, realised = children
            for child, lots in zip(volumes, figures[: len(symbols)], strict=True):
                child.set(lots)
            floating.set(book.floating)
            realised.set(book.realised)

    def set_feature_drift(self, feature: str, score: float) -> None:
        """The key feature's PSI (every bar): its child is looked up once per feature."""
        cached = self._drift_child
        if cached is None or cached[0] != feature:
            cached = self._drift_child = (feature, self.feature_drift.labels(feature=feature))
        cached[1].set(score)

    def clear_feature_drift(self) -> None:
        """Drop every feature's PSI (a new version watches its own feature from scratch)."""
        self.feature_drift.clear()
        self._drift_child = None

    def set_versions(self, versions: dict[str, str]) -> None:
        """Expose which version serves each role; stale role/version pairs are dropped.
        Called every bar: the gauge is rebuilt only when the versions changed."""
        if versions == self._versions:
            return
        self._versions = dict(versions)
        self.model_version.clear()
        for role, version in versions.items():
            self.model_version.labels(role=role, version=version).set(1)


def serve_metrics(metrics: WorkerMetrics, port: int, addr: str = "127.0.0.1") -> WSGIServer:
    """Serve ``/metrics`` from a daemon thread; call ``shutdown()`` and ``server_close()``
    on the returned server to stop it. Loopback by default: exposing it is a deliberate act.
    """
    server, _thread = start_http_server(port, addr=addr, registry=metrics.registry)
    logger.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server
