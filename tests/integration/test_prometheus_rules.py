"""The Prometheus configuration, alert and recording rules users run pass promtool's own checks
and unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.system import executable

INFRA = Path(__file__).resolve().parents[2] / "infra" / "prometheus"


@pytest.mark.integration
@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules.yml"],
        ["test", "rules", "rules_test.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ],
)
def test_prometheus_files_pass_promtool(args: list[str]) -> None:
    result = subprocess.run(
        [executable("promtool"), *args],
        cwd=INFRA,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
