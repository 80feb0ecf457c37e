"""A tracking server that does not answer is said as such (exit 2, one line), never as a model
without a champion, and the password of its URI is masked in what the CLI prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_settings_refused import run_tate
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.mark.parametrize("args", [["promote"], ["serve", "--bars", "1"]])
def test_an_unreachable_registry_is_named_with_its_password_masked(
    tmp_path: Path, args: list[str]
) -> None:
    uri = f"http://ops:s3cret-pw@127.0.0.1:{free_port()}"
    env = {
        "TATE_HOME": str(tmp_path / "home"),
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's own retries would take minutes
    }
    done = run_tate(tmp_path, env, *args, timeout=150)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"tate: the model registry at {uri.replace('s3cret-pw', '***')}")
    assert "did not answer" in line and "champion" not in line
    assert "s3cret-pw" not in done.stdout + done.stderr
