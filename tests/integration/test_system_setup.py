"""`.ci/system-setup`, which `make test` runs first: silent when the system has what the tests run,
and, on a machine where it cannot install, failing at once with one line naming the command."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "system-setup"
INSTALL = "apt-get install -y --no-install-recommends"

pytestmark = pytest.mark.integration


def run_setup(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    env = {"PATH": path, "LC_ALL": "C"}
    return subprocess.run(
        [bash, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def bare_path(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only ``tools``: no prometheus, no apt-get, no sudo."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None, tool
        (folder / tool).symlink_to(found)
    return str(folder)


def test_setup_is_silent_and_succeeds_when_everything_is_installed() -> None:
    done = run_setup("--check", path=os.environ["PATH"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_setup_that_cannot_install_fails_with_one_line_naming_the_command(
    tmp_path: Path,
) -> None:
    done = run_setup(path=bare_path(tmp_path, "grep", "id", "git"))
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("system-setup: the tests need prometheus promtool")
    if os.geteuid() == 0:  # root, but no apt-get on this PATH
        assert line.endswith("there is no apt-get here: install your system's equivalent of "
                             "Debian's prometheus docker-compose chromium")  # fmt: skip
    else:  # no sudo on this PATH
        assert line.endswith(
            f"without a password; run: sudo {INSTALL} prometheus docker-compose chromium"
        )


def test_check_names_each_missing_tool_and_its_package_once(tmp_path: Path) -> None:
    done = run_setup("--check", path=bare_path(tmp_path, "grep"))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "the tests need prometheus promtool git docker-compose chromium" in line
    assert line.endswith(f"sudo {INSTALL} prometheus git docker-compose chromium")
