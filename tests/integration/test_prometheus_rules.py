"""The Prometheus configuration, alert and recording rules users run pass promtool's own checks
and unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

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


@pytest.mark.integration
def test_the_config_tate_up_writes_follows_the_metrics_port_and_passes_promtool_anywhere(
    tmp_path: Path,
) -> None:
    from flows.prometheus_config import write_prometheus_config
    from flows.settings import TateSettings

    settings = TateSettings(home=tmp_path / "home", metrics_port=19464)
    path = write_prometheus_config(settings)
    assert path == settings.home / "run" / "prometheus.yml"
    config = yaml.safe_load(path.read_text())
    (job,) = config["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:19464"]}]
    assert [Path(name).is_absolute() for name in config["rule_files"]] == [True, True]
    result = subprocess.run(  # from a folder with no rule files: the paths carry their folder
        [executable("promtool"), "check", "config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout + result.stderr
