"""`tate lookahead` and the look-ahead step of every retraining.

The analysis is `models.lookahead` (pure); here it gets its bars, its report folder
(`reports/lookahead/<UTC stamp>/`: `report.md`, `index.html`, `summary.json`) and its verdict:
a failure raises `LookaheadFailedError` (exit 1). The command checks on a small synthetic
history (the same every time, so a verdict is reproducible and fast); a retraining checks on
the bars it is about to train on, and records the result in MLflow (`flows/train_flow.py`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from data_contracts.synthetic import generate_market
from flows.errors import LookaheadFailedError
from flows.reports import run_folder, write_index, write_json
from models.lookahead import LookaheadReport, analyse_strategy, report_markdown
from models.strategy import Strategy

# Bars the analysis reads: enough for several windows of the longest shipped feature set,
# few enough to stay well under a second per strategy.
ANALYSIS_BARS = 720
SYNTHETIC_SYMBOL = "EURUSD"


def synthetic_history(seed: int = 7) -> pd.DataFrame:
    """A small deterministic H1 history of one symbol (about 720 bars)."""
    market = generate_market(seed=seed, symbols=(SYNTHETIC_SYMBOL,), delisted=None, n_days=40)
    return market.bars[SYNTHETIC_SYMBOL]


def history_for(strategy: Strategy, bars: Mapping[str, pd.DataFrame]) -> tuple[str, pd.DataFrame]:
    """The history a retraining's check reads: the last ``ANALYSIS_BARS`` of the first symbol
    (by name) that has enough bars, else the synthetic history; with where it came from."""
    for symbol in sorted(bars):
        frame = bars[symbol]
        if len(frame) >= 2 * strategy.window + 2:
            return symbol, frame.sort_values("time").iloc[-ANALYSIS_BARS:]
    return f"synthetic:{SYNTHETIC_SYMBOL}", synthetic_history()


def write_report(reports_dir: Path, reports: Sequence[LookaheadReport], source: str) -> Path:
    """The run's folder with `report.md`, `index.html` and `summary.json`; the index updated."""
    folder = run_folder(reports_dir, "lookahead")
    text = f"{report_markdown(reports)}\nBars: {source}.\n"
    (folder / "report.md").write_text(text)
    (folder / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>look-ahead analysis</title>"
        f"</head><body><pre>{html.escape(text)}</pre></body></html>"
    )
    write_json(
        folder / "summary.json",
        {"source": source, "strategies": [r.summary() for r in reports]},
    )
    write_index(reports_dir)
    return folder


def failure_message(reports: Sequence[LookaheadReport], folder: Path) -> str:
    """One line per finding of every failed strategy, then the report's path."""
    lines = [
        f"{r.strategy}: {f.check} check failed on {f.feature!r} at {f.first_time.isoformat()}: "
        f"{f.detail}"
        for r in reports
        for f in r.findings
    ]
    return "\n".join([*lines, f"report: {folder / 'report.md'}"])


def check_strategies(
    reports_dir: Path, strategies: Sequence[Strategy], bars: pd.DataFrame, source: str
) -> tuple[list[LookaheadReport], Path]:
    """Analyse each strategy on ``bars`` and write the report; raises nothing."""
    reports = [analyse_strategy(strategy, bars) for strategy in strategies]
    return reports, write_report(reports_dir, reports, source)


def require_passed(reports: Sequence[LookaheadReport], folder: Path) -> None:
    """Raises:
    LookaheadFailedError: a strategy failed a check (the message names each finding)."""
    if not all(r.passed for r in reports):
        raise LookaheadFailedError(failure_message(reports, folder))


def run_record(report: LookaheadReport, folder: Path, source: str) -> dict[str, Any]:
    """What a retraining's MLflow run records of its check (tags, and the report's files)."""
    return {
        "tags": {
            "tate.lookahead_passed": str(report.passed),
            "tate.lookahead_findings": str(len(report.findings)),
            "tate.lookahead_declared_warmup": str(report.declared_warmup),
            "tate.lookahead_bars": f"{source} ({report.bars} bars)",
            "tate.lookahead_report": str(folder / "report.md"),
        },
        "files": [str(folder / "report.md"), str(folder / "summary.json")],
    }
