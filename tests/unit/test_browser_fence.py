"""The browser tests' fence: only this machine's files and loopback servers may load, and only
the exact third-party noise a test names is forgiven."""

from __future__ import annotations

import re

import pytest

from tests.browser import PageRecord, is_local


@pytest.mark.parametrize(
    "url",
    [
        "file:///tmp/home/reports/index.html",
        "data:font/ttf;base64,AAAA",
        "blob:http://127.0.0.1:5000/1f2e",
        "http://127.0.0.1:5000/ajax-api/2.0/mlflow/registered-models/get",
        "http://localhost:4200/api/health",
        "http://[::1]:4200/deployments",
    ],
)
def test_files_and_loopback_servers_are_local(url: str) -> None:
    assert is_local(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.jsdelivr.net/npm/vega@5",
        "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png",
        "http://127.0.0.1.example.com/x.js",
        "http://10.0.0.5:5000/",
        "//unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js",
    ],
)
def test_anything_else_is_fenced_off(url: str) -> None:
    assert not is_local(url)


def test_only_noise_named_in_full_is_forgiven() -> None:
    noise = re.compile(r"HTTP error: 404 http://127\.0\.0\.1:\d+/users/current")
    record = PageRecord(harmless=[noise])
    record.http_errors += ["404 http://127.0.0.1:5000/users/current", "404 http://127.0.0.1:5000/x"]
    record.blocked.append("https://cdn.example/x.js")
    assert record.problems() == [
        "blocked (not loopback): https://cdn.example/x.js",
        "HTTP error: 404 http://127.0.0.1:5000/x",
    ]
