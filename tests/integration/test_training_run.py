"""What one training run leaves in MLflow: enough to reproduce it and to judge it without rerunning."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.settings import TateSettings
from flows.train_flow import log_and_register
from flows.training_verdict import publish_training_verdict
from models.strategies.lgbm_momentum import STRATEGY
from models.training import TrainConfig, run_training

pytestmark = pytest.mark.integration


def test_run_records_data_code_environment_metrics_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    settings = TateSettings()
    market = generate_market()
    store = BarStore(settings.data_dir)
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    bars = store.read_bars_set("H1")
    outcome = run_training(STRATEGY, bars, replace(TrainConfig(), num_boost_round=40))
    verdict = {"result_id": "abc123", "summary": "s.json", "quarantined_rows": 3}

    result = log_and_register.fn(settings, outcome, bars, "run-contents", verdict)

    client = MlflowClient(tracking_uri=settings.mlflow_db_uri)
    run = client.get_run(result["run_id"])
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["tate.store_digest"] == store.digest("H1", sorted(bars))
    assert tags["tate.validation_result_id"] == "abc123"
    assert tags["tate.quarantined_rows"] == "3"
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert {"oof_auc", "oof_sharpe_net", "oof_deflated_sharpe", "oof_cost_share"} <= set(metrics)
    fold_auc = client.get_metric_history(run.info.run_id, "fold_auc")
    assert [m.step for m in fold_auc] == list(range(len(outcome.fold_metrics)))
    assert run.inputs.dataset_inputs[0].dataset.digest == tags["tate.store_digest"][:32]

    artifacts = {
        f.path
        for folder in ("backtest", "model_insight", "environment", "reference", "cv")
        for f in client.list_artifacts(run.info.run_id, folder)
    }
    assert artifacts >= {
        "backtest/equity_curve.csv",
        "backtest/equity_curve.png",
        "backtest/fold_sharpe.png",
        "model_insight/feature_importance.csv",
        "model_insight/feature_importance.png",
        "environment/requirements.lock",
        "environment/package_versions.json",
        "reference/features.parquet",
        "cv/folds.json",
        "cv/oof_predictions.parquet",
    }
    folds = json.loads(
        Path(client.download_artifacts(run.info.run_id, "cv/folds.json", str(tmp_path))).read_text()
    )["folds"]
    assert [f["booster_sha256"] for f in folds] == outcome.fold_boosters_sha256
    assert [f["test_start"] for f in folds] == [b["test_start"] for b in outcome.fold_bounds]
    oof = pd.read_parquet(
        client.download_artifacts(run.info.run_id, "cv/oof_predictions.parquet", str(tmp_path))
    )
    assert roc_auc_score(oof["y"], oof["probability"]) == pytest.approx(metrics["oof_auc"])
    version = client.get_model_version(settings.model_name, result["version"])
    assert version.tags["gate_passed"] in {"True", "False"}
    assert version.tags["booster_sha256"] == outcome.booster_sha256
    assert version.tags["holdout_start"] == outcome.holdout_start.isoformat()

    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    verdict = publish_training_verdict.fn(settings, outcome, result, at)
    summary = json.loads((verdict.parent / "summary.json").read_text())
    assert (summary["version"], summary["run_id"]) == (result["version"], result["run_id"])
    assert summary["gate_passed"] == (version.tags["gate_passed"] == "True")
    assert [c["passed"] for c in summary["checks"]].count(False) == len(
        [r for r in summary["reasons"] if r.startswith("FAIL")]
    )
    assert (verdict.parent / "equity.svg").read_text().startswith("<svg")
    assert "## gate checks" in verdict.read_text()
    home = (settings.reports_dir / "index.html").read_text()
    assert f"v{result['version']}" in home and "equity.svg" in home
