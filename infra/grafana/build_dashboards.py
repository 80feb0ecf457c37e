"""Build the Grafana dashboards under ``infra/grafana/dashboards/`` from code (grafanalib).

The JSON files are generated, never hand-edited: change a panel here, run
``.venv/bin/python infra/grafana/build_dashboards.py`` and commit both. A unit test checks the
committed JSON equals what this script builds, and an integration test evaluates every panel's
PromQL against a real Prometheus scraping a replaying worker, so a renamed metric
(``serving/metrics.py``) fails a test instead of leaving an empty panel.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    Stat,
    StateTimeline,
    Target,
    Time,
    TimeSeries,
)

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
# the provisioned data source's uid (infra/grafana/provisioning/datasources/prometheus.yml)
DATASOURCE = {"type": "prometheus", "uid": "tate-prometheus"}
WIDTH, HEIGHT = 12, 8  # two panels a row on Grafana's 24-column grid


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """What a panel shows; ``kind`` picks the grafanalib panel type."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | state
    description: str = ""


WORKER_PANELS = (
    Panel(
        "Decision latency (mean over 1m)",
        (
            Query(
                "sum by (role) (rate(prediction_latency_seconds_sum[1m]))"
                " / sum by (role) (rate(prediction_latency_seconds_count[1m]))",
                "{{role}}",
            ),
        ),
        unit="s",
        description="Time in model.decide per closed bar: rate of the histogram's sum / count.",
    ),
    Panel(
        "Decision and order-send latency p99 (5m)",
        (
            Query("tate:prediction_latency_seconds:p99_5m", "decide {{role}}"),
            Query("tate:order_send_latency_seconds:p99_5m", "order_send {{role}}"),
        ),
        unit="s",
        description="Recording rules of infra/prometheus/rules.yml.",
    ),
    Panel(
        "Order events by outcome (per second, 5m)",
        (Query("sum by (outcome) (rate(order_retcodes_total[5m]))", "{{outcome}}"),),
        unit="ops",
        description="Every order event; anything but filled or pending is an order error.",
    ),
    Panel(
        "Order errors by retcode (last 5m)",
        (
            Query(
                "sum by (retcode, role) (increase(order_execution_errors_total[5m]))",
                "{{retcode}} {{role}}",
            ),
        ),
        description="Orders that did not fill; retcode 'none' is an order_send with no answer.",
    ),
    Panel(
        "Predictions per role (per second, 5m)",
        (Query("sum by (role) (rate(prediction_requests_total[5m]))", "{{role}}"),),
        unit="ops",
    ),
    Panel(
        "PnL per role",
        (
            Query("sum by (role) (pnl_account_currency)", "{{role}}"),
            Query("daily_pnl_account_currency", "trading day (all roles)"),
        ),
        unit="currencyUSD",
        description="Floating plus realised today, in the account's deposit currency.",
    ),
    Panel(
        "Positions (net lots)",
        (Query("sum by (role, symbol) (position_volume_lots)", "{{role}} {{symbol}}"),),
        description="Buy positive, sell negative; 0 when flat.",
    ),
    Panel(
        "Circuit breakers (1 = tripped)",
        (Query("max by (breaker) (circuit_breaker_tripped)", "{{breaker}}"),),
        kind="state",
        description="A tripped breaker stops new positions until a person resets it.",
    ),
    Panel(
        "Feature drift PSI",
        (Query("max by (feature) (feature_drift_psi)", "{{feature}}"),),
        description="PSI of the champion's key feature against its version's reference.",
    ),
    Panel(
        "Registry reachable / trading refused",
        (
            Query("min(model_registry_reachable)", "registry reachable"),
            Query("max(trading_refused)", "trading refused"),
        ),
        kind="state",
        description="Registry unreachable: the worker trades the last loaded models.",
    ),
    Panel(
        "Model version per role",
        (Query("max by (role, version) (model_version_info)", "{{role}} v{{version}}"),),
        kind="stat",
    ),
    Panel(
        "Error budget left (28d)",
        (Query("tate:slo_error_budget_remaining:ratio28d", "{{slo}} {{role}}"),),
        unit="percentunit",
        description="Share of each SLO's 28-day error budget not yet spent (recording rule of "
        "infra/prometheus/rules.yml); at 0 the canary gate freezes promotion and widening.",
    ),
    Panel(
        "Bars processed (per second, 5m) and worker up",
        (
            Query("sum(rate(bars_processed_total[5m]))", "bars/s"),
            Query('min(up{job="tate-worker"})', "up"),
        ),
    ),
)


def grid(index: int) -> GridPos:
    """Two panels a row, in declaration order."""
    return GridPos(h=HEIGHT, w=WIDTH, x=(index % 2) * WIDTH, y=(index // 2) * HEIGHT)


def build_panel(panel: Panel, index: int) -> TimeSeries | Stat | StateTimeline:
    targets = [
        Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
        for i, q in enumerate(panel.queries)
    ]
    common = dict(
        title=panel.title,
        description=panel.description,
        dataSource=DATASOURCE,
        targets=targets,
        gridPos=grid(index),
        id=index + 1,
    )
    if panel.kind == "stat":
        return Stat(**common, format=panel.unit)
    if panel.kind == "state":
        return StateTimeline(**common)
    return TimeSeries(**common, unit=panel.unit)


def build_dashboard(title: str, uid: str, panels: tuple[Panel, ...]) -> Dashboard:
    return Dashboard(
        title=title,
        uid=uid,
        tags=["tate"],
        timezone="utc",
        refresh="30s",
        time=Time("now-6h", "now"),
        panels=[build_panel(p, i) for i, p in enumerate(panels)],
    ).auto_panel_ids()


def dashboards() -> dict[str, str]:
    """File name → JSON text of every dashboard (sorted keys, so the output is stable)."""
    built = {"tate-worker.json": build_dashboard("tate worker", "tate-worker", WORKER_PANELS)}
    return {
        name: json.dumps(d.to_json_data(), cls=DashboardEncoder, sort_keys=True, indent=2) + "\n"
        for name, d in built.items()
    }


def write(folder: Path = DASHBOARDS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in dashboards().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path, file=sys.stderr)
