"""The scikit-learn family end to end, as `tate train --strategy sk_logistic` and `tate serve`
run it: checked for look-ahead, trained, registered under its own model name, signed, judged
by the promotion gate, then loaded (digest and signature verified) and traded on SimTerminal
by the real worker from the registry named in `TATE_MODEL_NAME`, and its drift reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.drift_flow import drift_report
from flows.serve import run_worker
from flows.settings import TateSettings
from flows.train_flow import retrain
from models.strategies.sk_logistic import FEATURE_NAMES
from serving.journal import Journal
from tests.servers import free_port

pytestmark = pytest.mark.integration

MODEL = "tate-sk-logistic"


def test_sk_logistic_is_trained_signed_gated_and_traded_from_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TATE_HOME", str(home))
    monkeypatch.setenv("TATE_MODEL_NAME", MODEL)
    monkeypatch.setenv("TATE_METRICS_PORT", str(free_port()))
    monkeypatch.setenv("TATE_SYMBOLS", "EURUSD,GBPUSD")
    market = generate_market(symbols=("EURUSD", "GBPUSD"), delisted=None, n_days=200)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)

    first = retrain(strategy="sk_logistic")
    second = retrain(strategy="sk_logistic")

    settings = TateSettings()
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri)
    assert (first["version"], first["alias"]) == ("1", "champion")
    judged = client.get_model_version(MODEL, second["version"])
    assert judged.tags["gate_passed"] == str(second["gate_passed"])  # the gate judged v2
    assert second["alias"] == ("canary" if second["gate_passed"] else None)
    for version in (first["version"], second["version"]):
        tags = client.get_model_version(MODEL, version).tags
        assert tags["tate.signature"] and tags["tate.signing_key_id"]
    run = client.get_run(first["run_id"])
    assert run.data.tags["tate.lookahead_passed"] == "True"
    assert client.search_model_versions("name='tate-lgbm-momentum'") == []
    # no pickle: the fitted numbers are JSON the logged file reads back
    model_dir = Path(client.download_artifacts(first["run_id"], "model", str(tmp_path / "dl")))
    logistic = json.loads((model_dir / "artifacts" / "logistic.json").read_text())
    assert logistic["feature_names"] == list(FEATURE_NAMES)
    assert not list(model_dir.rglob("*.pkl")) and not list(model_dir.rglob("*.pickle"))

    summary = run_worker(settings, terminal="sim", max_bars=24)

    decisions = Journal(settings.journal).read_decisions()
    assert set(decisions["model_name"]) == {MODEL}
    assert "1" in set(decisions["model_version"])
    # the journal keeps the features decide() computed, one column each
    assert decisions[list(FEATURE_NAMES)].iloc[-1].notna().all()
    assert "24 closed bars on sim" in summary

    # drift reads the family's journaled features against its training features, as for any
    drift = drift_report()
    table = pd.read_csv(drift["table"], index_col=0)
    assert sorted(table["feature"]) == sorted(FEATURE_NAMES)
    assert table["psi"].notna().all()
