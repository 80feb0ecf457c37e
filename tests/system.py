"""The system executables tests run. A missing one fails the test that needs it, naming the command
that installs it: a test never skips because a machine lacks a package (`make test` installs them)."""

from __future__ import annotations

import shutil

import pytest

SETUP = ".ci/system-setup"


def executable(name: str) -> str:
    """The path of ``name`` on PATH; fails the calling test when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed; run {SETUP} (it installs the Debian packages the tests "
            f"need; `make test` runs it first)",
            pytrace=False,
        )
    return path
