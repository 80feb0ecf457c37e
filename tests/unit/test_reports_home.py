"""The reports home answers "is everything fine?" from the runs' own JSON, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from flows.reports import run_folder, write_index
from flows.reports_home import RunEntry, judge, read_runs, render_home, stamp_time

T1 = datetime(2026, 1, 5, 10, tzinfo=UTC)
T2 = datetime(2026, 1, 6, 10, tzinfo=UTC)


def _run(reports: Path, kind: str, at: datetime, name: str, payload: dict[str, object]) -> Path:
    folder = run_folder(reports, kind, at)
    (folder / name).write_text(json.dumps(payload))
    return folder


def _validation(ok: bool) -> dict[str, object]:
    failures = [] if ok else [{"check": "gap", "severity": "error"}, {"severity": "warning"}]
    return {"ok": ok, "blocking": not ok, "symbols": ["EURUSD", "USDJPY"], "checks_run": 30,
            "failures": failures, "quarantined_rows": {"EURUSD": 3}}  # fmt: skip


def test_each_kind_is_judged_from_its_own_record() -> None:
    assert judge("validation", _validation(True)) == (
        "passed", True, "2 symbols, 30 checks, 0 errors, 0 warnings, 3 rows quarantined"
    )  # fmt: skip
    verdict, good, detail = judge("validation", _validation(False))
    assert (verdict, good) == ("FAILED (blocks training)", False) and "1 errors, 1 warn" in detail
    halted = {"model_name": "m", "version": "4", "drifted": True, "halt_reasons": ["PSI 0.5"]}
    assert judge("drift", halted) == ("HALTED", False, "m v4. PSI 0.5")
    assert judge("drift", {"drifted": False, "version": "4"})[:2] == ("no drift", True)
    report_only = {**halted, "halted": None}  # `tate demo`, `tate drift --no-act`
    assert judge("drift", report_only)[:2] == ("WOULD HALT (report only)", False)
    assert judge("drift", {**halted, "halted": "PSI 0.5"})[0] == "HALTED"
    rollback = {"outcome": "rollback", "champion": "3", "canary": "4", "reasons": ["loss"]}
    assert judge("canary-gate", rollback) == ("rollback", False, "champion v3, canary v4. loss")
    assert judge("canary-gate", {**rollback, "outcome": "widen"})[1] is True
    leaks = {"strategies": [{"strategy": "a", "passed": True}, {"strategy": "b", "passed": False}]}
    assert judge("lookahead", leaks) == ("LOOK-AHEAD", False, "a, b; leaks in b")


def test_the_home_puts_the_newest_verdicts_first_and_names_what_is_wrong(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _run(reports, "validation", T1, "summary.json", _validation(False))
    _run(reports, "validation", T2, "summary.json", _validation(True))
    drift = _run(reports, "drift", T2, "summary.json",
                 {"model_name": "m", "version": "4", "drifted": True, "halt_reasons": ["PSI 0.5"]})  # fmt: skip
    (drift / "report.html").write_text("<html></html>")
    _run(reports, "canary-gate", T2, "decision.json", {"outcome": "hold", "reasons": []})
    (reports / "data_docs").mkdir()
    (reports / "data_docs" / "index.html").write_text("<html></html>")
    entries = read_runs(reports)
    assert [(e.kind, e.verdict) for e in entries] == [
        ("validation", "passed"),  # newest first
        ("validation", "FAILED (blocks training)"),
        ("drift", "HALTED"),
        ("canary-gate", "hold"),
    ]
    page = write_index(reports).read_text()
    answer = page[page.index("Not everything is fine") : page.index("Latest verdicts")]
    assert "drift: HALTED" in answer and "validation" not in answer  # only the newest counts
    assert f'href="drift/{drift.name}/report.html"' in page
    assert 'href="data_docs/index.html"' in page
    assert "2026-01-06 10:00:00 UTC" in page and "https://" not in page


def test_all_good_says_so_and_an_unreadable_record_is_not_good(tmp_path: Path) -> None:
    good = RunEntry("validation", "2026-01-06T10-00-00-000000Z", "passed", True, "", ())
    assert "Everything is fine" in render_home([good])
    assert "No flow has written" in render_home([])
    reports = tmp_path / "reports"
    broken = run_folder(reports, "drift", T1)
    (broken / "summary.json").write_text("{not json")
    (entry,) = read_runs(reports)
    assert (entry.verdict, entry.good) == ("unreadable", None)
    assert "Not everything is fine" in render_home([good, entry])
    assert stamp_time(good.stamp) == T2 and stamp_time("other") is None


def test_training_runs_show_alias_or_why_withheld_their_run_link_and_equity_curve(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    base = {"model_name": "m", "metrics": {"deflated_sharpe": 0.97, "sharpe_net": 1.2, "auc": 0.55}}
    first = _run(reports, "training", T1, "summary.json",
                 {**base, "version": "1", "alias": "champion", "gate_passed": True, "reasons": []})  # fmt: skip
    (first / "equity.svg").write_text("<svg/>")
    url = "http://127.0.0.1:5000/#/experiments/1/runs/r2"
    withheld = {**base, "version": "2", "alias": None, "gate_passed": False, "run_url": url,
                "reasons": ["FAIL: OOF deflated Sharpe 0.300 must exceed 0.950", "ok: folds"]}  # fmt: skip
    second = _run(reports, "training", T2, "summary.json", withheld)
    (second / "equity.svg").write_text("<svg/>")
    assert judge("training", withheld)[:2] == ("v2 withheld", False)
    page = write_index(reports).read_text()
    latest = page[page.index("Latest verdicts") : page.index("<h2>training")]
    assert "v2 withheld" in latest and "deflated Sharpe 0.97" in latest
    assert "the gate withheld it (OOF deflated Sharpe 0.300 must exceed 0.950)" in latest
    assert f'href="{url}"' in latest
    history = page[page.index("<h2>training") :]
    assert "v1 → champion" in history and "alias &#x27;champion&#x27; set" in history
    for folder in (first, second):  # one equity curve per version, a local file
        assert f'<img src="training/{folder.name}/equity.svg"' in history


def test_a_report_only_drift_says_it_did_not_halt() -> None:
    report_only = {"version": "4", "drifted": True, "halt_reasons": ["PSI 0.5"], "halted": False}
    assert judge("drift", report_only)[:2] == ("WOULD HALT (report only)", False)
    acted = {**report_only, "halted": True}
    assert judge("drift", acted)[:2] == ("HALTED", False)
