"""The tate header on the drift report says our verdict, the windows and why a demo flags drift."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_contracts.synthetic import generate_market, planted_regime_change, write_market_note
from flows.drift_header import (
    DriftVerdict,
    Window,
    inject_header,
    overall_verdict,
    render_drift_header,
)

REGIME = datetime(2023, 5, 1, 12, tzinfo=UTC)
FEATURES = [
    {"feature": "volatility_24", "psi": 0.61, "ks": 0.58, "wasserstein": 0.0021, "drifted": True},
    {"feature": "return_1", "psi": 0.03, "ks": 0.05, "wasserstein": float("nan"), "drifted": False},
]


def verdict(**changes: object) -> DriftVerdict:
    fields: dict[str, object] = {
        "model_name": "tate-lgbm-momentum",
        "version": "3",
        "role": "champion",
        "reference": Window("training features of run abc", 9000, end=REGIME.replace(month=3)),
        "current": Window(
            "journaled decisions", 700, start=REGIME.replace(month=4), end=REGIME.replace(month=6)
        ),
        "features": FEATURES,
        "drifted": True,
        "halt_reasons": ["PSI 0.610 >= 0.25 on key feature volatility_24"],
        "halting_features": ["volatility_24"],
        "acted": True,
        "planted_regime_change": None,
    }
    return DriftVerdict(**{**fields, **changes})  # type: ignore[arg-type]


def text(fragment: str) -> str:
    tags_out = re.sub(r"<style>.*?</style>|<[^>]+>", " ", fragment)
    return re.sub(r"\s+", " ", html.unescape(tags_out))


def test_header_names_version_role_windows_and_each_features_figures_and_verdict() -> None:
    shown = text(render_drift_header(verdict()))
    assert "tate-lgbm-momentum v3 (champion): HALTED" in shown
    assert "training features of run abc: 9,000 rows, bars before 2023-03-01 12:00 UTC" in shown
    assert "700 rows, bars 2023-04-01 12:00 UTC → 2023-06-01 12:00 UTC" in shown
    assert "volatility_24 0.610 0.580 0.002 drifted, halts (key feature, PSI)" in shown
    assert "return_1 0.030 0.050 — stable" in shown
    assert "1 of 2 features drifted" in shown and "1 key features reached the PSI halt" in shown
    assert "Halted" in shown and "PSI 0.610 >= 0.25 on key feature volatility_24" in shown


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({}, "HALTED"),
        ({"acted": False}, "WOULD HALT (report only)"),
        ({"halt_reasons": []}, "DRIFT"),
        ({"halt_reasons": [], "drifted": False}, "no drift"),
    ],
)
def test_overall_verdict_says_whether_the_model_was_halted(
    changes: dict[str, object], word: str
) -> None:
    assert overall_verdict(verdict(**changes)) == word
    assert f'data-verdict="{word}"' in render_drift_header(verdict(**changes))


def test_a_report_only_run_says_it_did_not_halt_and_what_would() -> None:
    shown = text(render_drift_header(verdict(acted=False)))
    assert "Not halted, report only" in shown and "on key feature volatility_24" in shown


def test_synthetic_market_header_says_the_regime_change_is_planted() -> None:
    shown = text(render_drift_header(verdict(planted_regime_change=REGIME)))
    assert "synthetic demo market, which has a regime change planted at 2023-05-01 12:00" in shown
    assert "drift here is expected" in shown
    before = verdict(
        planted_regime_change=REGIME,
        current=Window("decisions", 10, start=REGIME.replace(month=1), end=REGIME.replace(month=2)),
    )
    assert "ends before it" in text(render_drift_header(before))
    assert "planted" not in text(render_drift_header(verdict()))


def test_names_are_escaped() -> None:
    fragment = render_drift_header(verdict(model_name="<script>x</script>"))
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment


def test_header_goes_first_into_the_body_and_a_page_without_one_is_refused() -> None:
    page = '<html><head></head><body class="x"><div id="root"></div></body></html>'
    assert inject_header(page, "<section>H</section>") == (
        '<html><head></head><body class="x"><section>H</section><div id="root"></div></body></html>'
    )
    with pytest.raises(ValueError, match="no <body>"):
        inject_header("<html></html>", "<section/>")


def test_a_synthetic_store_records_its_planted_regime_change(tmp_path: Path) -> None:
    market = generate_market(symbols=("EURUSD",), delisted=None, n_days=20)
    assert planted_regime_change(tmp_path) is None
    write_market_note(tmp_path, market, seed=7)
    assert planted_regime_change(tmp_path) == market.regime_change_at


def test_the_demo_says_its_flagged_drift_is_planted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.demo import planted_words
    from flows.settings import TateSettings

    monkeypatch.setenv("TATE_HOME", str(tmp_path))
    assert planted_words(TateSettings()) is None
    market = generate_market(symbols=("EURUSD",), delisted=None, n_days=20)
    write_market_note(tmp_path / "data", market, seed=7)
    words = planted_words(TateSettings())
    assert words is not None and f"{market.regime_change_at:%Y-%m-%d %H:%M} UTC" in words
