"""`tate up` and the demo print the ports the settings chose, with the lines that point
Prefect's and MLflow's own CLIs at tate's servers."""

from __future__ import annotations

from pathlib import Path

from flows.demo import open_ui_hints
from flows.settings import TateSettings
from flows.stack import client_exports


def _settings(tmp_path: Path) -> TateSettings:
    return TateSettings(home=tmp_path, prefect_port=14200, mlflow_port=15000, metrics_port=19464)


def test_client_exports_carry_the_configured_ports(tmp_path: Path) -> None:
    assert client_exports(_settings(tmp_path)) == [
        "export PREFECT_API_URL=http://127.0.0.1:14200/api",
        "export MLFLOW_TRACKING_URI=http://127.0.0.1:15000",
    ]


def test_the_demo_hints_name_the_configured_ports_and_no_default_one(tmp_path: Path) -> None:
    text = "\n".join(open_ui_hints(_settings(tmp_path)))
    assert "Prefect UI http://127.0.0.1:14200" in text
    assert "MLflow UI http://127.0.0.1:15000" in text
    assert "http://127.0.0.1:19464/metrics" in text and "--port 15000" in text
    assert "  export PREFECT_API_URL=http://127.0.0.1:14200/api" in text
    assert "  export MLFLOW_TRACKING_URI=http://127.0.0.1:15000" in text
    assert not any(port in text for port in (":4200", ":5000", ":9464"))
