"""Data Docs load nothing from the network: every CDN address GX's templates use has a
vendored copy, the copies are the files GX pins, and a built site references only them."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import great_expectations

from data_contracts.data_docs_offline import (
    ASSETS,
    CDN_TO_LOCAL,
    localize_page,
    remote_references,
)
from data_contracts.validation import validate_bars_set
from tests.factories import make_bars, make_universe

TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"


def _template_tags() -> list[str]:
    tags = []
    for template in TEMPLATES.glob("*.j2"):
        tags += re.findall(r"<(?:script|link)\b[^>]*>", template.read_text(encoding="utf-8"))
    return tags


def test_every_cdn_address_in_gx_templates_has_a_vendored_file() -> None:
    used = {url for tag in _template_tags() for url in remote_references(tag)}
    assert used, "no CDN address found: GX's templates moved, this test would prove nothing"
    assert used <= set(CDN_TO_LOCAL), sorted(used - set(CDN_TO_LOCAL))
    for path in CDN_TO_LOCAL.values():
        assert (ASSETS / path).is_file(), path


def test_vendored_scripts_match_the_sri_hashes_gx_pins() -> None:
    pinned = 0
    for tag in _template_tags():
        integrity = re.search(r'integrity="sha384-([^"]+)"', tag)
        if integrity is None:
            continue
        (url,) = remote_references(tag)
        digest = hashlib.sha384((ASSETS / CDN_TO_LOCAL[url]).read_bytes()).digest()
        assert base64.b64encode(digest).decode() == integrity.group(1), url
        pinned += 1
    assert pinned >= 2  # popper and Bootstrap's script


def test_a_page_is_rewritten_to_local_copies_without_cors_attributes() -> None:
    page = (
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>'
        '<a href="https://greatexpectations.io">GX</a>'
        '<link rel="icon" href="../../../static/images/favicon.ico">'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png'
        '?d=20260101T000000Z" alt="GX">'
    )
    local = localize_page(page, "../static/")
    assert '<img src="../static/images/logo-long.png" alt="GX">' in local
    assert '<script src="../static/offline/bootstrap/js/bootstrap.min.js"></script>' in local
    assert '<a href="https://greatexpectations.io">GX</a>' in local  # a link, not a load
    assert remote_references(local) == []
    assert '<link rel="icon" href="../static/images/favicon.ico">' in local  # GX's short link


def test_a_built_site_loads_only_files_inside_it(tmp_path: Path) -> None:
    site = tmp_path / "data_docs"
    validate_bars_set(
        {"EURUSD": make_bars(n=200)}, make_universe(["EURUSD"]), site_dir=site, run_name="off"
    )
    pages = list(site.rglob("*.html"))
    assert any(p.name == "index.html" for p in pages) and len(pages) > 1
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert remote_references(text) == [], page
        for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", text):
            for ref in re.findall(r'(?:src|href)="([^"#?]+)', tag):
                assert (page.parent / ref).resolve().is_file(), (page, ref)
    for sheet in (site / "static" / "styles").glob("*.css"):
        assert "https://" not in re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S), sheet
    fonts = (site / "static/offline/fontawesome-free/css/all.min.css").read_text()
    for font in set(re.findall(r"url\(\.\./webfonts/([^)]+\.woff2)\)", fonts)):
        assert (site / "static/offline/fontawesome-free/webfonts" / font).is_file()
