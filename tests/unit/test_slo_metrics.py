"""The worker's SLO counters: the events Prometheus' burn-rate rules and budgets are built on."""

from __future__ import annotations

from serving.metrics import LATENCY_BUCKETS, WorkerMetrics


def count(metrics: WorkerMetrics, slo: str, role: str, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "slo_events_total", {"slo": slo, "role": role, "result": result}
    )
    return value or 0.0


def test_decisions_over_the_latency_threshold_are_bad_events() -> None:
    metrics = WorkerMetrics()
    metrics.latency_slo_seconds = 0.2
    for latency in (0.001, 0.2, 0.25):
        metrics.observe_decision("canary", "EURUSD", latency, 0.5)
    assert count(metrics, "latency", "canary", "good") == 2
    assert count(metrics, "latency", "canary", "bad") == 1


def test_orders_count_good_when_filled_placed_or_retried_and_bad_otherwise() -> None:
    metrics = WorkerMetrics()
    for outcome in ("filled", "pending", "requote", "throttled", "rejected", "unknown"):
        metrics.observe_order("EURUSD", "champion", 10009, outcome, 0.01)
    assert count(metrics, "execution", "champion", "good") == 4
    assert count(metrics, "execution", "champion", "bad") == 2


def test_the_latency_histogram_has_the_slo_threshold_as_a_bucket() -> None:
    assert 0.2 in LATENCY_BUCKETS
