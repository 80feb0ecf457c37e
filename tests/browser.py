"""Debian's headless Chromium, driven by Playwright, on pages fenced off from the network.

Every request whose host is not loopback (or a `file:`/`data:`/`blob:` address) is aborted and
recorded, as are failed requests, HTTP errors, console errors and uncaught page errors: a page
that needs the internet, or breaks on its own, fails the test that opened it. Playwright's own
browser downloads are unreachable here, so the browser is the system's (`/usr/bin/chromium`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
VIEWPORT = {"width": 1400, "height": 1000}


def is_local(url: str) -> bool:
    """A file of this machine or a server on loopback: what a fenced page may load."""
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK_HOSTS


@dataclass
class PageRecord:
    """What went wrong while a page loaded and ran, less the third-party noise named harmless."""

    harmless: Sequence[re.Pattern[str]] = ()
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Each problem as one line; a line that one ``harmless`` pattern matches in full is
        left out (the caller says beside each pattern why it is harmless)."""
        lines = [
            *(f"blocked (not loopback): {u}" for u in self.blocked),
            *(f"request failed: {u}" for u in self.failed),
            *(f"HTTP error: {u}" for u in self.http_errors),
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
        ]
        return [line for line in lines if not any(p.fullmatch(line) for p in self.harmless)]


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session (a launch costs about a second)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fenced_page(
    browser: Any,
    screenshot: Path,
    *,
    harmless: Sequence[re.Pattern[str]] = (),
) -> Iterator[tuple[Any, PageRecord]]:
    """A new page whose every non-local request is aborted and every failure recorded; a
    full-page screenshot is saved to ``screenshot`` when the block ends (failing or not).

    Args:
        harmless: problem lines (``PageRecord.problems``) that are a third-party app's known
            noise, each matched in full; callers say why beside each pattern.
    """
    record = PageRecord(harmless=harmless)
    context = browser.new_context(viewport=VIEWPORT)

    def fence(route: Any) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            record.blocked.append(url)
            route.abort("blockedbyclient")

    def console(message: Any) -> None:
        if message.type == "error":
            record.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def failed(request: Any) -> None:
        if is_local(request.url):  # a blocked request is recorded once, as blocked
            record.failed.append(f"{request.url}: {request.failure}")

    def response(answer: Any) -> None:
        if answer.status >= 400:
            record.http_errors.append(f"{answer.status} {answer.url}")

    context.route("**/*", fence)
    page = context.new_page()
    page.on("console", console)
    page.on("pageerror", lambda error: record.page_errors.append(str(error)))
    page.on("requestfailed", failed)
    page.on("response", response)
    try:
        yield page, record
    finally:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
