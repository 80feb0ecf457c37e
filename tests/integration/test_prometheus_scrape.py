"""A real Prometheus scrapes a running worker and computes mean decision latency from it."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from flows.prometheus_config import render_prometheus_config
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics, serve_metrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource
from tests.system import executable

INFRA = Path(__file__).resolve().parents[2] / "infra" / "prometheus"

LATENCY_QUERY = (
    "rate(prediction_latency_seconds_sum[1m]) / rate(prediction_latency_seconds_count[1m])"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _poll(predicate, what: str, attempts: int = 240, every: float = 0.5):  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` returns a truthy value (bounded attempts, no wall-clock limit)."""
    for _ in range(attempts):
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.integration
def test_prometheus_scrapes_worker_latency(tmp_path: Path) -> None:
    prometheus_bin = executable("prometheus")
    term = SimTerminal(make_replay_bars(("EURUSD", "USDJPY"), n=5_000), account_mode="hedging")
    term.initialize()
    metrics = WorkerMetrics()
    worker = Worker(
        term, Mt5Broker(term, magic=7000), Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}"),
        FakeModelSource.with_roles("champion", "canary"), metrics, ReplayClock(term),
        ("EURUSD", "USDJPY"), "H1",
    )  # fmt: skip
    server = serve_metrics(metrics, _free_port())
    target = f"127.0.0.1:{server.server_port}"
    # The config users run, rendered as `tate up` renders it, for this worker's port.
    (tmp_path / "prometheus.yml").write_text(render_prometheus_config(target))
    web = f"127.0.0.1:{_free_port()}"
    thread = threading.Thread(target=worker.run, kwargs={"pace_seconds": 0.05}, daemon=True)
    prometheus = None
    try:
        thread.start()
        prometheus = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address={web}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("w"),
        )
        base = f"http://{web}"
        _poll(lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200, "ready")

        def latency() -> list[float]:
            query = urllib.parse.urlencode({"query": LATENCY_QUERY})
            result = _get(f"{base}/api/v1/query?{query}")["data"]["result"]
            values = [float(r["value"][1]) for r in result]
            return [v for v in values if math.isfinite(v) and v > 0]

        values = _poll(latency, "a finite mean latency from Prometheus")
        assert all(0 < v < 1.0 for v in values)
        targets = _get(f"{base}/api/v1/targets")["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"]
    finally:
        worker.stop()
        if prometheus is not None:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait(timeout=10)
        thread.join(timeout=10)
        server.shutdown()
        server.server_close()
    assert not thread.is_alive(), "the worker thread did not stop within 10 s of stop()"
