"""The tate header on top of Evidently's drift report: our verdict first, Evidently's charts after.

Evidently's page shows its own statistics; the decision (drift, halt) is ours, from
`models.drift` and the concept-drift checks. A person opening the report must see which model
and version, against which windows, each feature's PSI / KS / Wasserstein with our verdict, and
whether the model was halted and why, before any chart. When the bars are tate's synthetic
demo market the header says its regime change is planted, so a flagged demo reads as intended.

`render_drift_header` is pure; `inject_header` puts it into a page's body. Static HTML with
inline styles: nothing loads from the network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

HEADER_ID = "tate-drift-header"


@dataclass(frozen=True)
class Window:
    """The rows one side of the comparison holds, and the bar times they span (when known)."""

    source: str
    rows: int
    start: datetime | None = None
    end: datetime | None = None

    def words(self) -> str:
        span = ""
        if self.start is not None and self.end is not None:
            span = f", bars {_when(self.start)} → {_when(self.end)}"
        elif self.end is not None:
            span = f", bars before {_when(self.end)}"
        return f"{self.source}: {self.rows:,} rows{span}"


@dataclass(frozen=True)
class DriftVerdict:
    """What the drift flow decided for one version, as the header shows it."""

    model_name: str
    version: str
    role: str | None
    reference: Window
    current: Window
    features: Sequence[Mapping[str, Any]]  # rows of `models.drift.drift_table`
    drifted: bool
    halt_reasons: Sequence[str] = ()
    halting_features: Sequence[str] = ()  # key features whose PSI reached the halt bar
    acted: bool = True  # False: report only, the flow was told not to halt
    findings: Sequence[str] = ()
    planted_regime_change: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # more lines for the list


def overall_verdict(verdict: DriftVerdict) -> str:
    """One word for the whole report: HALTED, WOULD HALT (report only), DRIFT or no drift."""
    if verdict.halt_reasons:
        return "HALTED" if verdict.acted else "WOULD HALT (report only)"
    return "DRIFT" if verdict.drifted else "no drift"


def feature_verdict(row: Mapping[str, Any], halting: Sequence[str] = ()) -> str:
    """A feature's verdict: drifted when PSI *and* KS pass their bars (`models.drift`); a key
    feature whose PSI alone reached the halt bar says so, since that halts the model."""
    words = "drifted" if bool(row.get("drifted")) else "stable"
    if row.get("feature") in halting:
        words += ", halts (key feature, PSI)"
    return words


def halt_words(verdict: DriftVerdict) -> str:
    """Whether the model was halted, and why."""
    reasons = "; ".join(verdict.halt_reasons)
    if not verdict.halt_reasons:
        return "Not halted: no key feature's PSI and no concept-drift check says to."
    if verdict.acted:
        return f"Halted (the `halted` tag; the worker stops trading it at its next poll): {reasons}"
    return f"Not halted, report only (`tate drift` would halt it): {reasons}"


def planted_change_words(verdict: DriftVerdict) -> str | None:
    """The sentence saying the synthetic market's regime change is planted; None for real bars."""
    when = verdict.planted_regime_change
    if when is None:
        return None
    where = (
        "the current window ends before it, so none of the planted drift is in it"
        if verdict.current.end is not None and verdict.current.end < when
        else "the current window reaches past it, so drift here is expected: the report is "
        "showing that it catches the change"
    )
    return (
        f"These bars come from tate's synthetic demo market, which has a regime change planted "
        f"at {_when(when)} (volatility and spreads jump, momentum flips to reversal); {where}."
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "?"
    return "—" if math.isnan(number) else f"{number:.3f}"


_STYLE = (
    "#tate-drift-header{font-family:system-ui,sans-serif;color:#222;margin:1em 2em 2em;"
    "max-width:72em}#tate-drift-header table{border-collapse:collapse;margin:.5em 0}"
    "#tate-drift-header td,#tate-drift-header th{border-bottom:1px solid #ddd;"
    "padding:.25em .7em;text-align:left}#tate-drift-header .bad{color:#b00020;font-weight:600}"
    "#tate-drift-header .good{color:#176d2c;font-weight:600}"
    "#tate-drift-header .note{background:#fff8e1;padding:.5em .8em;border-radius:4px}"
)


def render_drift_header(verdict: DriftVerdict) -> str:
    """The header as one HTML fragment (a `<section>` with its own scoped style)."""
    e = html.escape
    word = overall_verdict(verdict)
    mark = "good" if word == "no drift" else "bad"
    role = f" ({e(verdict.role)})" if verdict.role else ""
    words = [feature_verdict(row, verdict.halting_features) for row in verdict.features]
    rows = "".join(
        "<tr>"
        f"<td>{e(str(row.get('feature', '?')))}</td>"
        f"<td>{_number(row.get('psi'))}</td>"
        f"<td>{_number(row.get('ks'))}</td>"
        f"<td>{_number(row.get('wasserstein'))}</td>"
        f'<td class="{"good" if said == "stable" else "bad"}">{e(said)}</td>'
        "</tr>"
        for row, said in zip(verdict.features, words, strict=True)
    )
    drifted = sum(1 for row in verdict.features if row.get("drifted"))
    parts = [
        f'<section id="{HEADER_ID}" data-verdict="{e(word)}"><style>{_STYLE}</style>',
        f"<h1>Drift of {e(verdict.model_name)} v{e(verdict.version)}{role}: "
        f'<span class="{mark}" id="tate-drift-verdict">{e(word)}</span></h1>',
        f"<p>{e(halt_words(verdict))}</p>",
    ]
    planted = planted_change_words(verdict)
    if planted:
        parts.append(f'<p class="note" id="tate-planted-regime">{e(planted)}</p>')
    parts += [
        "<ul>",
        f"<li>Reference — {e(verdict.reference.words())}</li>",
        f"<li>Current — {e(verdict.current.words())}</li>",
        *(f"<li>{e(label)}: {e(value)}</li>" for label, value in verdict.extra.items()),
        "</ul>",
    ]
    if verdict.findings:
        parts.append(
            "<p>Prediction and concept drift:</p><ul>"
            + "".join(f"<li>{e(line)}</li>" for line in verdict.findings)
            + "</ul>"
        )
    parts += [
        f"<p>{drifted} of {len(verdict.features)} features drifted (PSI and KS both past their "
        f"bars); {len(verdict.halting_features)} key features reached the PSI halt bar. Evidently's own report follows; its per-column tests use its own thresholds, "
        "the verdict above is tate's.</p>",
        '<table id="tate-drift-features"><tr><th>feature</th><th>PSI</th><th>KS</th>'
        f"<th>Wasserstein</th><th>verdict</th></tr>{rows}</table>",
        "</section>",
    ]
    return "".join(parts)


def inject_header(page: str, header: str) -> str:
    """``page`` with ``header`` as the first thing in its body.

    Raises:
        ValueError: the page has no ``<body>`` tag (not a page Evidently wrote).
    """
    lower = page.lower()
    start = lower.find("<body")
    end = lower.find(">", start) if start >= 0 else -1
    if end < 0:
        raise ValueError("the drift report has no <body> tag to put the tate header in")
    return page[: end + 1] + header + page[end + 1 :]
