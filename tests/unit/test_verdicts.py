"""Each flow's decision in words a person reads: the markdown builders and the equity picture."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flows.equity_svg import equity_svg
from flows.verdicts import (
    alias_words,
    drift_markdown,
    mlflow_run_url,
    publish_verdict,
    training_markdown,
)
from models.gates import decide_promotion

GOOD = {"auc": 0.56, "sharpe_net": 1.4, "n_folds": 5, "deflated_sharpe": 0.97, "cost_share": 0.3}


def _verdict(metrics: dict[str, float], alias: str | None, url: str | None) -> dict[str, object]:
    gate = decide_promotion(metrics, None)
    return {
        "model_name": "tate-lgbm-momentum",
        "version": "7",
        "run_id": "r1",
        "run_url": url,
        "alias": alias,
        "gate_passed": gate.passed,
        "gate_against": "absolute checks (no champion)",
        "checks": [vars(c) for c in gate.checks],
        "reasons": gate.reasons,
        "metrics": metrics,
    }


def test_gate_checks_are_rows_with_value_threshold_and_result_matching_the_reasons() -> None:
    gate = decide_promotion({**GOOD, "deflated_sharpe": 0.5}, {"auc": 0.55, "sharpe_net": 1.0})
    rows = {c.name: c for c in gate.checks}
    assert len(gate.checks) == len(gate.reasons) == 7
    assert (rows["OOF deflated Sharpe"].value, rows["OOF deflated Sharpe"].threshold) == (0.5, 0.95)
    assert [c.name for c in gate.checks if not c.passed] == ["OOF deflated Sharpe"]
    assert rows["OOF net Sharpe vs champion"].threshold == 1.0 - 0.5
    nan = decide_promotion({}, None)  # a missing metric fails its row as it fails its reason
    assert not any(c.passed for c in nan.checks) and not nan.passed


def test_a_withheld_version_says_no_alias_and_which_checks_failed() -> None:
    verdict = _verdict({**GOOD, "auc": 0.49, "deflated_sharpe": 0.2}, None, None)
    text = training_markdown(verdict)
    assert "v7: gate FAILED" in text
    assert "no alias: the gate withheld it (OOF AUC 0.4900 must exceed 0.5100; OOF deflated" in text
    assert "| OOF AUC | 0.49 | > | 0.51 | **FAIL** |" in text
    assert "| walk-forward folds | 5 | >= | 3 | pass |" in text
    assert "deflated Sharpe 0.2," in text and "MLflow run: `r1`" in text


def test_a_promoted_version_names_its_alias_and_links_its_run() -> None:
    url = mlflow_run_url("http://127.0.0.1:5000/", "3", "r1")
    assert url == "http://127.0.0.1:5000/#/experiments/3/runs/r1"
    text = training_markdown(_verdict(GOOD, "champion", url))
    assert "gate passed" in text and "- alias 'champion' set" in text
    assert f"[r1]({url})" in text and "FAIL" not in text
    assert mlflow_run_url("sqlite:////home/mlflow.db", "3", "r1") is None  # nothing to open
    secret = mlflow_run_url("https://trainer:s3cret@mlflow.desk:8443/", "3", "r1")
    assert secret == "https://mlflow.desk:8443/#/experiments/3/runs/r1"


def test_the_log_line_says_the_alias_or_why_it_was_withheld_never_none() -> None:
    assert alias_words("canary", ["ok: a"]) == "alias 'canary' set"
    withheld = alias_words(None, ["FAIL: PBO 0.70 must be below 0.50", "ok: folds"])
    assert withheld == "no alias: the gate withheld it (PBO 0.70 must be below 0.50)"


def test_drift_verdict_says_whether_it_halted_and_why() -> None:
    summary = {
        "model_name": "m",
        "version": "4",
        "drifted": True,
        "halt_reasons": ["key feature vol_24 PSI 0.61 > 0.20"],
        "findings": ["prediction PSI 0.05"],
        "features": [{"feature": "vol_24", "psi": 0.61, "ks": 0.6, "wasserstein": 1.2,
                      "drifted": True}],
    }  # fmt: skip
    halted = drift_markdown(summary, "key feature vol_24 PSI 0.61 > 0.20", "run-9")
    assert halted.startswith("# drift of m v4: HALTED")
    assert "- halted: key feature vol_24" in halted and "flow run `run-9`" in halted
    assert "| vol_24 | 0.61 | 0.6 | 1.2 | yes |" in halted
    report_only = drift_markdown(summary, None, None)
    assert (
        "FLAGGED" in report_only
        and "not halted (report only), though these would halt" in report_only
    )
    calm = drift_markdown({**summary, "drifted": False, "halt_reasons": []}, None, None)
    assert "no drift" in calm and "not halted: no key feature" in calm


def test_outside_a_prefect_run_the_verdict_is_a_file_in_the_run_folder(tmp_path: Path) -> None:
    path = publish_verdict(tmp_path, "drift", "# drift\n", "d")
    assert path == tmp_path / "verdict.md" and path.read_text() == "# drift\n"


def test_the_equity_curve_is_a_self_contained_svg_of_each_series() -> None:
    net = [1.0 + 0.001 * i for i in range(2000)]
    svg = equity_svg({"equity_gross": [1.0, 1.2, float("nan"), 1.3], "equity_net": net}, "v7 <x>")
    root = ET.fromstring(svg)  # well-formed, the title escaped
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    assert len(lines[1].get("points", "").split()) <= 401  # a long curve is thinned
    assert "equity_net: 1.000 → 2.999" in svg
    assert "href" not in svg and "<script" not in svg  # nothing to fetch, nothing to run
    assert "no equity curve" in equity_svg({"equity_net": [1.0]}, "t")


def test_the_drift_flow_writes_its_verdict_beside_its_report_and_the_home_links_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.drift_flow import publish_drift_verdict
    from flows.reports import run_folder, write_json
    from flows.settings import TateSettings

    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    settings = TateSettings()
    folder = run_folder(settings.reports_dir, "drift")
    write_json(folder / "summary.json", {"model_name": "m", "version": "4", "drifted": True,
                                         "halt_reasons": ["PSI 0.5"], "features": []})  # fmt: skip
    result = {"report": str(folder / "report.html"), "drifted": True, "version": "4",
              "halted": "PSI 0.5", "retrain_flow_run": None}  # fmt: skip

    path = publish_drift_verdict(settings, result)

    assert path == folder / "verdict.md"
    assert (
        path.read_text().startswith("# drift of m v4: HALTED")
        and "- halted: PSI 0.5" in path.read_text()
    )
    assert f"drift/{folder.name}/verdict.md" in (settings.reports_dir / "index.html").read_text()
    assert json.loads((folder / "summary.json").read_text())["halted"] == "PSI 0.5"
