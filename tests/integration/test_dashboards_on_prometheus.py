"""Every PromQL expression of every committed Grafana panel, and every recording rule, returns data
from a real Prometheus scraping a worker that replays on SimTerminal; an empty panel fails here.
Then a halted model and an unreachable registry make their alerts fire (or go pending) for real.

One worker and one Prometheus serve the module's tests (module-scoped fixtures): the alert test
runs last, as it halts the worker's model."""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.prometheus_config import render_prometheus_config
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics, serve_metrics
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeModelSource
from tests.servers import free_port
from tests.system import executable

INFRA = Path(__file__).resolve().parents[2] / "infra"
PROMETHEUS = INFRA / "prometheus"
DASHBOARDS = INFRA / "grafana" / "dashboards"
SYMBOLS = ("EURUSD", "USDJPY")
# rejected orders (retcode 10006) early in the replay, so the order-error panels have series
REJECTIONS = 3


def panel_expressions() -> dict[str, str]:
    """``"dashboard / panel [refId]"`` → PromQL, for every target of every committed dashboard."""
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                found[f"{path.stem} / {panel['title']} [{target['refId']}]"] = target["expr"]
    return found


def rule_files() -> list[str]:
    return list(yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["rule_files"])


def recording_expressions() -> dict[str, str]:
    """Each recording rule's expression and the series it records, from every loaded rule file."""
    found = {}
    for name in rule_files():
        for group in yaml.safe_load((PROMETHEUS / name).read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    found[f"{name} expr of {rule['record']}"] = rule["expr"]
                    found[f"{name} recorded {rule['record']}"] = rule["record"]
    return found


def has_data(base: str, expr: str) -> bool:
    """True when the instant query answers at least one finite sample."""
    query = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{base}/api/v1/query?{query}", timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", (expr, body)
    return any(math.isfinite(float(r["value"][1])) for r in body["data"]["result"])


@pytest.fixture(scope="module")
def source() -> FakeModelSource:
    return FakeModelSource.with_roles("champion", "canary")


@pytest.fixture(scope="module")
def replaying_worker(
    tmp_path_factory: pytest.TempPathFactory, source: FakeModelSource
) -> Iterator[str]:
    """A worker replaying on SimTerminal with /metrics on a free loopback port; yields its target."""
    tmp_path = tmp_path_factory.mktemp("worker")
    term = SimTerminal(make_replay_bars(SYMBOLS, n=5_000), account_mode="hedging")
    term.initialize()
    term.faults.extend([10006] * REJECTIONS)
    metrics = WorkerMetrics()
    worker = Worker(
        term, Mt5Broker(term, magic=7000), Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}"),
        source, metrics, ReplayClock(term), SYMBOLS, "H1",
    )  # fmt: skip
    server = serve_metrics(metrics, free_port())
    thread = threading.Thread(target=worker.run, kwargs={"pace_seconds": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        worker.stop()
        thread.join(timeout=10)
        server.shutdown()
        server.server_close()
    assert not thread.is_alive(), "the worker thread did not stop within 10 s of stop()"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, replaying_worker: str) -> Iterator[str]:
    """The Prometheus users run (infra/prometheus, every rule file), scraping the worker."""
    tmp_path = tmp_path_factory.mktemp("prometheus")
    (tmp_path / "prometheus.yml").write_text(render_prometheus_config(replaying_worker))
    web = f"127.0.0.1:{free_port()}"
    log = tmp_path / "prometheus.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                executable("prometheus"),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address={web}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield f"http://{web}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_every_panel_and_recording_rule_returns_data(prometheus: str) -> None:
    expressions = panel_expressions() | recording_expressions()
    assert len(panel_expressions()) >= 10 and recording_expressions()
    empty = dict(expressions)
    # bounded: 300 rounds, 0.5 s apart; a query error (bad PromQL) fails at once
    for _ in range(300):
        try:
            empty = {k: e for k, e in empty.items() if not has_data(prometheus, e)}
        except urllib.error.HTTPError:
            raise  # Prometheus refused a query: bad PromQL
        except OSError:
            pass  # Prometheus not listening yet
        if not empty:
            break
        time.sleep(0.5)
    assert not empty, f"queries that returned no data: {json.dumps(empty, indent=2)}"


def alert_states(base: str) -> set[tuple[str, str, str]]:
    """(alertname, breaker label or "", state) of every pending or firing alert."""
    with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5) as response:
        alerts = json.loads(response.read())["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"].get("breaker", ""), a["state"]) for a in alerts}


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_a_halted_model_and_an_unreachable_registry_raise_their_alerts(
    prometheus: str, source: FakeModelSource
) -> None:
    expected = {
        ("TateDriftHalted", "halted", "firing"),
        ("TateCircuitBreakerTripped", "halted", "firing"),
        # `for: 5m`: pending is as far as a test of seconds goes; promtool covers the firing
        ("TateModelRegistryUnreachable", "", "pending"),
    }
    for _ in range(120):  # Prometheus up and scraping, before the scenario starts
        try:
            if has_data(prometheus, 'up{job="tate-worker"} == 1'):
                break
        except OSError:
            pass
        time.sleep(0.5)
    assert not alert_states(prometheus) & expected, "alerts up before anything went wrong"
    source.halted = "drift flow: PSI 0.41 on return_1"
    source.registry_reachable = False
    seen: set[tuple[str, str, str]] = set()
    for _ in range(240):
        seen = alert_states(prometheus)
        if expected <= seen:
            break
        time.sleep(0.5)
    assert expected <= seen, f"missing {expected - seen}; alerts seen: {seen}"
