"""Worker metrics live on private registries and are served over HTTP on loopback."""

from __future__ import annotations

import urllib.request

from prometheus_client import generate_latest

from models.slo import GOOD_OUTCOMES
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


def _exposition(metrics: WorkerMetrics) -> list[str]:
    """The scrape's lines without ``_created`` (a wall-clock stamp per child)."""
    text = generate_latest(metrics.registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_the_per_event_shortcuts_expose_exactly_what_the_public_calls_do() -> None:
    """Decisions, orders, books and refusals through ``WorkerMetrics`` against the same
    events through ``prometheus_client``'s own calls: the same scrape, bucket by bucket."""
    fast, plain = WorkerMetrics(), WorkerMetrics()
    latencies = [0.0, 0.00005, 0.00007, 0.2, 0.2000001, 3.0, float("inf"), float("nan"), 1e-9]
    books = [
        {"champion": RoleBook({"EURUSD": 0.3}, 1.5, -2.0), "canary": RoleBook({}, 0.0, 0.0)},
        {"champion": RoleBook({"EURUSD": 0.3}, 1.5, -2.0), "canary": RoleBook({}, 0.0, 0.0)},
        {"champion": RoleBook({}, 0.0, -2.5), "canary": RoleBook({"USDJPY": -0.1}, 0.2, 0.0)},
    ]
    for k, latency in enumerate(latencies):
        role, symbol = ("champion", "canary")[k % 2], ("EURUSD", "USDJPY")[k % 3 % 2]
        retcode, outcome = [(10009, "filled"), (None, "unanswered"), (10006, "rejected")][k % 3]
        fast.observe_decision(role, symbol, latency, 0.1 * k)
        fast.observe_order(symbol, role, retcode, outcome, latency)
        fast.set_book(books[k % 3], ("EURUSD", "USDJPY"))
        fast.set_refusing("no model" if k in (2, 3) else None)

        label = "none" if retcode is None else str(retcode)
        plain.prediction_requests.labels(role, symbol).inc()
        plain.prediction_latency.labels(role).observe(latency)
        plain.model_prediction_value.labels(role, symbol).set(0.1 * k)
        result = "good" if latency <= plain.latency_slo_seconds else "bad"
        plain.slo_events.labels("latency", role, result).inc()
        plain.order_retcodes.labels(symbol, role, label, outcome).inc()
        plain.order_send_latency.labels(role, symbol).observe(latency)
        result = "good" if outcome in GOOD_OUTCOMES else "bad"
        plain.slo_events.labels("execution", role, result).inc()
        if outcome != "filled":
            plain.order_execution_errors.labels(symbol, role, label).inc()
        for name, book in books[k % 3].items():
            for s in ("EURUSD", "USDJPY"):
                plain.position_volume.labels(name, s).set(book.volumes.get(s, 0.0))
            plain.pnl.labels(name, "floating").set(book.floating)
            plain.pnl.labels(name, "realised_today").set(book.realised)
        plain.trading_refused.set(1 if k in (2, 3) else 0)
    assert _exposition(fast) == _exposition(plain)
