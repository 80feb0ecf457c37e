"""The alert and recording rules users run pass promtool's own checks and unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
PROMTOOL = shutil.which("promtool")


@pytest.mark.integration
@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)
@pytest.mark.parametrize(
    "args", [["check", "rules", "rules.yml"], ["test", "rules", "rules_test.yml"]]
)
def test_rules_pass_promtool(args: list[str]) -> None:
    result = subprocess.run(
        [str(PROMTOOL), *args], cwd=INFRA, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
