"""The reports home (`reports/index.html`): the page a person opens first to ask "is everything fine?".

The newest verdict of each kind sits at the top (validation, training and its gate, drift and
whether it halted, canary gate, look-ahead), then each kind's history with dates, versions and
links to the run's own files (and to the MLflow run when the tracking server has a URL), with
each trained version's out-of-fold equity curve. Built from the JSON every flow already writes
in its dated folder (`summary.json`, the canary gate's `decision.json`); `read_runs` is the only
I/O and `render_home` is pure. Static HTML with inline CSS and local SVG images: nothing loads
from the network.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.verdicts import alias_words

KINDS = ("validation", "training", "drift", "canary-gate", "lookahead")
"""The kinds with a verdict, in the order the page shows them."""

VERDICT_FILES = {"canary-gate": "decision.json"}
"""The JSON file that holds a kind's verdict (``summary.json`` when not listed)."""

GOOD_GATE_OUTCOMES = frozenset({"promote", "widen", "hold"})
"""Canary-gate outcomes that need nobody (rollback and frozen do)."""

HISTORY_ROWS = 50

EQUITY_IMAGE = "equity.svg"
"""A training run's equity curve in its folder (``flows.training_verdict``)."""


@dataclass(frozen=True)
class RunEntry:
    """One dated run of one kind, as the home shows it."""

    kind: str
    stamp: str  # the run folder's name: a UTC time
    verdict: str
    good: bool | None  # None: the run's record could not be read
    detail: str
    links: tuple[tuple[str, str], ...]  # (label, href relative to reports/, or a URL)
    image: str | None = None  # href of a picture of the run (a training run's equity curve)


def stamp_time(stamp: str) -> datetime | None:
    """The UTC time of a run folder's name (``flows.reports.run_folder``), None if not one."""
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%S-%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def judge(kind: str, payload: Mapping[str, Any]) -> tuple[str, bool, str]:
    """A run's verdict word, whether it is good, and one line of detail, from its JSON."""
    if kind == "validation":
        failures = payload.get("failures", [])
        errors = sum(1 for f in failures if f.get("severity") == "error")
        quarantined = sum(payload.get("quarantined_rows", {}).values())
        symbols = payload.get("symbols", [])
        detail = (
            f"{len(symbols)} symbols, {payload.get('checks_run', 0)} checks, "
            f"{errors} errors, {len(failures) - errors} warnings, {quarantined} rows quarantined"
        )
        verdict = "passed" if payload.get("ok") else "FAILED"
        if payload.get("blocking"):
            verdict += " (blocks training)"
        return verdict, bool(payload.get("ok")), detail
    if kind == "training":
        metrics = payload.get("metrics", {})
        version = f"v{payload.get('version', '?')}"
        verdict = (
            f"{version} → {payload['alias']}" if payload.get("alias") else f"{version} withheld"
        )
        detail = (
            f"{payload.get('model_name', '?')} {version}: deflated Sharpe "
            f"{_figure(metrics.get('deflated_sharpe'))}, net Sharpe "
            f"{_figure(metrics.get('sharpe_net'))}, AUC {_figure(metrics.get('auc'))}. "
            + alias_words(payload.get("alias"), payload.get("reasons", []))
        )
        return verdict, bool(payload.get("gate_passed")), detail
    if kind == "drift":
        halts = payload.get("halt_reasons", [])
        model = f"{payload.get('model_name', '?')} v{payload.get('version', '?')}"
        reasons = "; ".join(map(str, halts or payload.get("findings", [])))
        # older summaries have no "halted": the flow then always acted on its halt reasons
        halted = "HALTED" if payload.get("halted", True) else "WOULD HALT (report only)"
        verdict = halted if halts else "DRIFT" if payload.get("drifted") else "no drift"
        return verdict, not payload.get("drifted"), f"{model}. {reasons}".strip()
    if kind == "canary-gate":
        outcome = str(payload.get("outcome", "?"))
        versions = f"champion v{payload.get('champion')}, canary v{payload.get('canary')}"
        reasons = "; ".join(map(str, payload.get("reasons", [])))
        return outcome, outcome in GOOD_GATE_OUTCOMES, f"{versions}. {reasons}".strip()
    if kind == "lookahead":
        strategies = payload.get("strategies", [])
        failed = [s.get("strategy", "?") for s in strategies if not s.get("passed")]
        verdict = "LOOK-AHEAD" if failed else "clean"
        names = ", ".join(str(s.get("strategy", "?")) for s in strategies)
        return (
            verdict,
            not failed,
            f"{names}" + (f"; leaks in {', '.join(failed)}" if failed else ""),
        )
    return "?", False, ""


def read_runs(reports_dir: Path) -> list[RunEntry]:
    """Every dated run of every known kind, newest first within a kind."""
    entries = []
    for kind in KINDS:
        kind_dir = reports_dir / kind
        if not kind_dir.is_dir():
            continue
        for folder in sorted((p for p in kind_dir.iterdir() if p.is_dir()), reverse=True):
            record = folder / VERDICT_FILES.get(kind, "summary.json")
            links = tuple(
                (p.name, p.relative_to(reports_dir).as_posix())
                for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix in (".html", ".md", ".json", ".csv")
            )
            image = folder / EQUITY_IMAGE
            shown = image.relative_to(reports_dir).as_posix() if image.is_file() else None
            try:
                payload = json.loads(record.read_text())
                verdict, good, detail = judge(kind, payload)
            except (OSError, ValueError, AttributeError, TypeError) as error:
                entries.append(RunEntry(kind, folder.name, "unreadable", None, str(error), links))
                continue
            if isinstance(payload.get("run_url"), str) and payload["run_url"]:
                links += (("MLflow run", payload["run_url"]),)
            entries.append(RunEntry(kind, folder.name, verdict, good, detail, links, shown))
    return entries


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}
td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
.good{color:#176d2c;font-weight:600}.bad{color:#b00020;font-weight:600}
.unknown{color:#8a6d00;font-weight:600}.answer{font-size:1.3em;padding:.6em;border-radius:4px}
.answer.good{background:#e6f4ea}.answer.bad{background:#fce8e6}
"""


def _figure(value: Any) -> str:
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return "?"


def _mark(good: bool | None) -> str:
    return "good" if good else "unknown" if good is None else "bad"


def _row(entry: RunEntry, with_kind: bool) -> str:
    when = stamp_time(entry.stamp)
    shown = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else entry.stamp
    links = " ".join(
        f'<a href="{html.escape(href)}">{html.escape(label)}</a>' for label, href in entry.links
    )
    cells = [html.escape(entry.kind)] if with_kind else []
    detail = html.escape(entry.detail)
    if entry.image and not with_kind:
        label = html.escape(f"{entry.kind} {entry.verdict}: equity curve")
        detail += f'<br><img src="{html.escape(entry.image)}" alt="{label}" width="480">'
    cells += [
        html.escape(shown),
        f'<span class="{_mark(entry.good)}">{html.escape(entry.verdict)}</span>',
        detail,
        links,
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_home(
    entries: Sequence[RunEntry], *, data_docs: str | None = None, other_pages: Sequence[str] = ()
) -> str:
    """The home page: an answer, the newest verdict per kind, then each kind's history.

    Args:
        entries: runs, newest first within a kind (``read_runs``).
        data_docs: href of the Data Docs index, when it exists.
        other_pages: hrefs of HTML pages no kind above covers.
    """
    latest: dict[str, RunEntry] = {}
    for entry in entries:
        latest.setdefault(entry.kind, entry)
    wrong = [e for e in latest.values() if not e.good]
    if not latest:
        answer = '<p class="answer unknown">No flow has written a report yet.</p>'
    elif wrong:
        items = "".join(
            f"<li>{html.escape(e.kind)}: {html.escape(e.verdict)} — {html.escape(e.detail)}</li>"
            for e in wrong
        )
        answer = f'<div class="answer bad">Not everything is fine:<ul>{items}</ul></div>'
    else:
        answer = '<p class="answer good">Everything is fine: every latest verdict is good.</p>'
    head = "<tr><th>kind</th><th>when</th><th>verdict</th><th>detail</th><th>files</th></tr>"
    newest = "".join(_row(latest[k], True) for k in KINDS if k in latest)
    parts = [answer, f"<h2>Latest verdicts</h2><table>{head}{newest}</table>"]
    if data_docs:
        parts.append(
            f'<p><a href="{html.escape(data_docs)}">Data Docs (great-expectations)</a></p>'
        )
    for kind in KINDS:
        runs = [e for e in entries if e.kind == kind][:HISTORY_ROWS]
        if runs:
            rows = "".join(_row(e, False) for e in runs)
            head = "<tr><th>when</th><th>verdict</th><th>detail</th><th>files</th></tr>"
            parts.append(f"<h2>{html.escape(kind)}</h2><table>{head}{rows}</table>")
    if other_pages:
        items = "".join(
            f'<li><a href="{html.escape(p)}">{html.escape(p)}</a></li>' for p in other_pages
        )
        parts.append(f"<h2>Other pages</h2><ul>{items}</ul>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>tate reports</title>"
        f"<style>{_STYLE}</style></head><body><h1>tate reports</h1>{''.join(parts)}</body></html>"
    )
