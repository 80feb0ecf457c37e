"""Data Docs that work with the network off: GX's CDN links rewritten to vendored copies.

great-expectations ships its own CSS, fonts and images, but its page templates
(``index_page.j2``, ``page.j2``, ``js_script_imports.j2``) load jQuery, popper, Bootstrap 4.3.1,
bootstrap-table, the datepicker, font-awesome, bootstrap-dark and vega from CDNs; on a trading
host without internet the index shows two links and two "Clear Filters" buttons. A
``custom_views_directory`` cannot override those templates (it is searched after the
package's own), so after GX builds the site we copy ``data_docs_assets/`` (the files from
each project's npm package, pinned, licences beside them) into the site and point every page
at them.

``integrity``/``crossorigin`` go with the CDN link: a page opened from ``file://`` has an
opaque origin, and a CORS-mode fetch of a local file fails. The vendored files still carry the
SRI hashes GX pins (``tests/contracts/test_data_docs_offline.py`` checks them).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).with_name("data_docs_assets")
"""The vendored files (see its README for versions, packages and licences)."""

SITE_FOLDER = "offline"
"""Where the assets go inside a Data Docs site's ``static/`` folder."""

CDN_TO_LOCAL: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table/filter-control/bootstrap-table-filter-control.min.js"
    ),
    # GX links 1.19.0's stylesheet (minified or not) next to 1.19.1's script: one file serves
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "bootstrap-dark/bootstrap-prefers-dark.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
}
"""Every CDN address GX's templates load, to its vendored copy under ``ASSETS``."""

GX_WEB_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
"""Where GX's navbar loads its logo from, though the same file ships in the site's ``static/images``."""

_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
_WEB_ASSET = re.compile(r'"' + re.escape(GX_WEB_ASSETS) + r'([\w.-]+\.(?:png|svg))(?:\?[^"]*)?"')
_DARK_LOGO = re.compile(r"url\('" + re.escape(GX_WEB_ASSETS) + r"[^']*'\)")
_SRI = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"', re.IGNORECASE)
_STATIC = re.compile(r'((?:src|href)=")(?:\.\./)*static/')


def localize_page(page: str, static: str) -> str:
    """``page`` with every known CDN address in a script or link tag replaced by its vendored
    copy (``integrity``/``crossorigin`` dropped from those tags), and the site's own ``static/``
    files addressed through ``static`` (the page's relative path to that folder, ending "/").

    GX's logo, loaded from its web assets though the site ships it, is pointed at the site's copy.
    The ``static/`` rewrite fixes GX's own links: its validation pages reach ``static/`` one folder short
    (their favicon is a failed request), which a browser test counts as an error.
    """

    def local(match: re.Match[str]) -> str:
        tag = _STATIC.sub(lambda m: m.group(1) + static, match.group(0))
        # the navbar's logo: GX ships the same image in the site (its query only busts caches)
        tag = _WEB_ASSET.sub(lambda m: f'"{static}images/{m.group(1)}"', tag)
        for url, path in CDN_TO_LOCAL.items():
            quoted = f'"{url}"'
            if quoted in tag:
                return _SRI.sub("", tag.replace(quoted, f'"{static}{SITE_FOLDER}/{path}"'))
        return tag

    return _TAG.sub(local, page)


def remote_references(page: str) -> list[str]:
    """Addresses on the network that a page's script, link and img tags still load."""
    found = []
    for tag in _TAG.findall(page):
        found += re.findall(r'(?:src|href)="((?:https?:)?//[^"]+)"', tag)
    return found


def localize_data_docs(site_dir: Path) -> list[Path]:
    """Copy the vendored assets into the site and rewrite every HTML page under it to them.

    Returns:
        The pages rewritten (those that referenced a CDN).
    """
    static = site_dir / "static"
    target = static / SITE_FOLDER
    shutil.copytree(ASSETS, target, dirs_exist_ok=True)
    for sheet in (static / "styles").glob("*.css"):
        # GX's dark theme draws a white logo from its web assets; the shipped one stays local
        css = sheet.read_text(encoding="utf-8")
        if _DARK_LOGO.search(css):
            sheet.write_text(
                _DARK_LOGO.sub("url('../images/logo-long.png')", css), encoding="utf-8"
            )
    changed = []
    for page in site_dir.rglob("*.html"):
        if static in page.parents:
            continue
        prefix = Path(os.path.relpath(static, page.parent)).as_posix() + "/"
        text = page.read_text(encoding="utf-8")
        rewritten = localize_page(text, prefix)
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")
            changed.append(page)
    return changed
