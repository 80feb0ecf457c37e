"""The committed Grafana dashboards are exactly what infra/grafana/build_dashboards.py builds, and
every panel queries the provisioned Prometheus data source."""

from __future__ import annotations

import json
from pathlib import Path

from infra.grafana.build_dashboards import DASHBOARDS, DATASOURCE, dashboards

PROVISIONED = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "provisioning"


def test_committed_dashboards_equal_the_generated_ones() -> None:
    generated = dashboards()
    committed = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert committed.keys() == generated.keys(), "run infra/grafana/build_dashboards.py"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} is stale: run infra/grafana/build_dashboards.py"


def test_every_panel_has_a_query_on_the_provisioned_data_source() -> None:
    provisioned = (PROVISIONED / "datasources" / "prometheus.yml").read_text()
    assert f"uid: {DATASOURCE['uid']}" in provisioned
    for text in dashboards().values():
        panels = json.loads(text)["panels"]
        assert panels
        for panel in panels:
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
