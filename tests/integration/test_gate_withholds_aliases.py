"""No alias without the gate: a first version trained on shuffled labels is registered but gets no
alias, `tate train` exits 1 naming the failed checks, `tate promote` refuses it, and a person's
forced promotion is recorded on its tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.cli import app

# validation, five folds and the registration through the CLI: about a minute on 2 loaded cores
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

MODEL = "tate-lgbm-momentum"


def test_shuffled_labels_get_no_alias_and_only_a_forced_promotion_moves_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TATE_HOME", str(home))
    market = generate_market()
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)

    trained = CliRunner().invoke(app, ["train", "--shuffle-labels", "--num-boost-round", "40"])

    assert trained.exit_code == 1, trained.output
    assert "version 1" in trained.output and "alias none; gate failed" in trained.output
    assert "which gets no alias: FAIL: OOF AUC" in trained.output
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    assert client.get_registered_model(MODEL).aliases == {}
    tags = client.get_model_version(MODEL, "1").tags
    assert (tags["gate_passed"], tags["gate"]) == ("False", "failed")
    assert tags["gate_against"] == "absolute checks (no champion)"
    assert tags["gate_failed_checks"].startswith("FAIL: OOF AUC")
    assert tags["alias_withheld"].startswith("the gate failed: FAIL: OOF AUC")
    run = client.get_run(tags["run_id"])
    assert run.data.tags["tate.gate"] == "failed"
    (verdict,) = (home / "reports" / "training").glob("*/verdict.md")
    assert "no alias: the gate withheld it (OOF AUC" in verdict.read_text()
    assert "v1 withheld" in (home / "reports" / "index.html").read_text()

    refused = CliRunner().invoke(app, ["promote", "--version", "1"])
    assert refused.exit_code == 1
    assert "failed its gate (FAIL: OOF AUC" in refused.output
    assert client.get_registered_model(MODEL).aliases == {}

    args = ["promote", "--version", "1", "--force", "--by", "carol", "--reason", "control run"]
    forced = CliRunner().invoke(app, args)
    assert forced.exit_code == 0, forced.output
    assert client.get_registered_model(MODEL).aliases == {"champion": 1}
    tags = client.get_model_version(MODEL, "1").tags
    assert (tags["promoted_by"], tags["promotion_reason"], tags["forced"]) == (
        "carol",
        "control run",
        "true",
    )
