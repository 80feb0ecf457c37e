"""The worker's Prometheus metrics, declared in one place with full-word names and units.

Each ``WorkerMetrics`` owns a private ``CollectorRegistry`` so two workers (or two tests) in
one process never collide on the global registry. Alert rules and dashboards in ``infra/``
refer to these names.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

# one decision is tens of microseconds to a few milliseconds; the tail matters
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0
)  # fmt: skip


class WorkerMetrics:
    """Counters, histograms and gauges the worker updates per bar, symbol and role."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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
        self.last_bar_timestamp = Gauge(
            "last_bar_timestamp_seconds", "Open time of the last closed bar processed", registry=r
        )
        self.registry_reachable = Gauge(
            "model_registry_reachable", "1 when the last alias refresh reached MLflow", registry=r
        )
        self.circuit_breaker_tripped = Gauge(
            "circuit_breaker_tripped", "1 while the circuit breaker stops trading", registry=r
        )
        self.model_version = Gauge(
            "model_version_info", "Model version serving each role (value 1)", ["role", "version"],
            registry=r,
        )  # fmt: skip

    def observe_decision(self, role: str, symbol: str, latency: float, probability: float) -> None:
        self.prediction_requests.labels(role=role, symbol=symbol).inc()
        self.prediction_latency.labels(role=role).observe(latency)
        self.model_prediction_value.labels(role=role, symbol=symbol).set(probability)

    def count_order_error(self, symbol: str, role: str, retcode: int | None) -> None:
        label = "none" if retcode is None else str(retcode)
        self.order_execution_errors.labels(symbol=symbol, role=role, retcode=label).inc()

    def set_versions(self, versions: dict[str, str]) -> None:
        """Expose which version serves each role; stale role/version pairs are dropped."""
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
