"""Worker metrics live on private registries and are served over HTTP on loopback."""

from __future__ import annotations

import urllib.request

from prometheus_client import generate_latest

from serving.metrics import WorkerMetrics, serve_metrics
from serving.risk.positions import RoleBook


def test_two_workers_in_one_process_do_not_collide() -> None:
    first, second = WorkerMetrics(), WorkerMetrics()
    first.observe_decision("champion", "EURUSD", 0.001, 0.6)
    assert b'prediction_requests_total{role="champion",symbol="EURUSD"} 1.0' in generate_latest(
        first.registry
    )
    assert b"prediction_requests_total{" not in generate_latest(second.registry)


def test_order_errors_are_labelled_by_retcode_and_none() -> None:
    metrics = WorkerMetrics()
    metrics.count_order_error("EURUSD", "canary", None)
    metrics.count_order_error("EURUSD", "canary", 10006)
    text = generate_latest(metrics.registry).decode()
    assert 'order_execution_errors_total{retcode="none",role="canary",symbol="EURUSD"} 1.0' in text
    assert 'retcode="10006"' in text


def test_version_gauge_keeps_only_current_versions() -> None:
    metrics = WorkerMetrics()
    metrics.set_versions({"champion": "3", "canary": "4"})
    metrics.set_versions({"champion": "4"})
    text = generate_latest(metrics.registry).decode()
    assert 'model_version_info{role="champion",version="4"} 1.0' in text
    assert 'version="3"' not in text and 'role="canary"' not in text


def test_serve_metrics_exposes_the_registry_and_shuts_down() -> None:
    metrics = WorkerMetrics()
    metrics.observe_decision("champion", "USDJPY", 0.0002, 0.4)
    server = serve_metrics(metrics, 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        assert "prediction_latency_seconds_count" in body
        assert 'model_prediction_value{role="champion",symbol="USDJPY"} 0.4' in body
    finally:
        server.shutdown()
        server.server_close()


def test_every_order_event_is_counted_by_retcode_and_outcome_and_timed() -> None:
    metrics = WorkerMetrics()
    metrics.observe_order("EURUSD", "champion", 10009, "filled", 0.003)
    metrics.observe_order("EURUSD", "champion", None, "unknown", 2.0)
    r = metrics.registry
    labels = {"symbol": "EURUSD", "role": "champion"}
    assert (
        r.get_sample_value(
            "order_retcodes_total", {**labels, "retcode": "10009", "outcome": "filled"}
        )
        == 1
    )
    assert (
        r.get_sample_value(
            "order_retcodes_total", {**labels, "retcode": "none", "outcome": "unknown"}
        )
        == 1
    )
    assert r.get_sample_value("order_execution_errors_total", {**labels, "retcode": "none"}) == 1
    assert (
        r.get_sample_value("order_execution_errors_total", {**labels, "retcode": "10009"}) is None
    )
    count = r.get_sample_value(
        "order_send_latency_seconds_count", {"role": "champion", "symbol": "EURUSD"}
    )
    assert count == 2
    le = {"role": "champion", "symbol": "EURUSD", "le": "0.005"}
    assert r.get_sample_value("order_send_latency_seconds_bucket", le) == 1


def test_breaker_positions_and_pnl_gauges_carry_units_and_labels() -> None:
    metrics = WorkerMetrics()
    metrics.set_breakers({"halted": True, "latency": False})
    metrics.set_book(
        {"champion": RoleBook({"EURUSD": -0.3}, floating=-12.5, realised=4.0)},
        ("EURUSD", "USDJPY"),
    )
    text = generate_latest(metrics.registry).decode()
    assert 'circuit_breaker_tripped{breaker="halted"} 1.0' in text
    assert 'circuit_breaker_tripped{breaker="latency"} 0.0' in text
    assert 'position_volume_lots{role="champion",symbol="EURUSD"} -0.3' in text
    assert 'position_volume_lots{role="champion",symbol="USDJPY"} 0.0' in text
    assert 'pnl_account_currency{kind="floating",role="champion"} -12.5' in text
    assert 'pnl_account_currency{kind="realised_today",role="champion"} 4.0' in text
