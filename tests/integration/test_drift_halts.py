"""Drift that acts, through `tate drift` on a real MLflow store and journal: a planted shift on a
key feature halts the registered model (tag and reason, on the version too) and exits 1, and so
does a model whose edge is gone though its inputs look the same; a journal drawn from the
training distribution does not; `tate resume --by` clears the halt and records who.

The version is assembled from what a training run leaves (reference features, OOF predictions,
feature importance, label parameters) rather than trained, so the shift is exactly the planted one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from data_contracts.store import BarStore
from flows.cli import app
from flows.settings import TateSettings
from serving.journal import Journal, JournalWrites
from tests.factories import make_bars

# two drift flows on a temporary Prefect server and the Evidently report: ~2 min when loaded
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

FEATURES = ["momentum", "volatility", "hour"]
GAINS = {"momentum": 20.0, "volatility": 50.0, "hour": 0.0}
HORIZON = 6
TRAIN_BARS = 2400
LIVE_BARS = 900


def edge_probability(rng: np.random.Generator, forward: np.ndarray) -> np.ndarray:
    """A model right 70 % of the time about the side of the forward return."""
    right = rng.random(forward.size) < 0.7
    side = np.where(right, np.sign(forward), -np.sign(forward))
    return np.clip(0.5 + side * rng.uniform(0.03, 0.15, forward.size), 0.01, 0.99)


def build_home(home: Path, *, shift: float, seed: int, edge_kept: bool = True) -> TateSettings:
    """Bars, a registered champion with its training evidence, and a journal of its decisions."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        settings = TateSettings()
    rng = np.random.default_rng(seed)
    bars = make_bars(n=TRAIN_BARS + LIVE_BARS + HORIZON, seed=seed)
    BarStore(settings.data_dir).write_bars("EURUSD", "H1", bars)
    close = bars["close"].to_numpy()
    forward = np.log(close[HORIZON:] / close[:-HORIZON])
    times = bars["time"].iloc[: forward.size].reset_index(drop=True)

    work = home / "evidence"
    (work / "reference").mkdir(parents=True)
    (work / "cv").mkdir()
    (work / "model_insight").mkdir()
    pd.DataFrame(rng.normal(size=(TRAIN_BARS, 3)), columns=FEATURES).to_parquet(
        work / "reference" / "features.parquet", index=False
    )
    train = slice(0, TRAIN_BARS)
    pd.DataFrame(
        {
            "time": times[train],
            "symbol": "EURUSD",
            "y": (forward[train] > 0).astype(float),
            "probability": edge_probability(rng, forward[train]),
        }
    ).to_parquet(work / "cv" / "oof_predictions.parquet", index=False)
    pd.Series(GAINS, name="gain").to_csv(work / "model_insight" / "feature_importance.csv")

    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)
    experiment = client.create_experiment("tate", artifact_location=(home / "art").as_uri())
    run = client.create_run(experiment)
    run_id = run.info.run_id
    client.log_param(run_id, "horizon", HORIZON)
    client.log_param(run_id, "threshold", 0.02)
    for folder in ("reference", "cv", "model_insight"):
        client.log_artifacts(run_id, str(work / folder), folder)
    client.set_terminated(run_id)
    client.create_registered_model(settings.model_name)
    client.create_model_version(settings.model_name, source=(home / "m").as_uri(), run_id=run_id)
    client.set_registered_model_alias(settings.model_name, "champion", "1")

    live = slice(TRAIN_BARS, TRAIN_BARS + LIVE_BARS)
    probability = edge_probability(rng, forward[live])
    if not edge_kept:  # the same confidence, its side now a coin flip
        probability = 0.5 + (probability - 0.5) * rng.choice([-1.0, 1.0], LIVE_BARS)
    features = rng.normal(size=(LIVE_BARS, 3))
    features[:, FEATURES.index("volatility")] += shift
    writes = JournalWrites()
    for i, (bar_time, p) in enumerate(zip(times[live], probability, strict=True)):
        signal = 1 if p > 0.52 else -1 if p < 0.48 else 0
        writes.add_decision(
            bar_time=bar_time.to_pydatetime(),
            symbol="EURUSD",
            role="champion",
            model_name=settings.model_name,
            model_version="1",
            features=dict(zip(FEATURES, map(float, features[i]), strict=True)),
            signal=signal,
            confidence=abs(2 * p - 1),
            size=0.0,
            intent_id=f"i{i}",
        )
    journal = Journal(settings.journal)
    journal.commit(writes)
    journal.close()
    return settings


def test_a_planted_shift_on_a_key_feature_halts_until_a_person_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_home(tmp_path / "home", shift=1.0, seed=1)
    monkeypatch.setenv("TATE_HOME", str(settings.home))

    flagged = CliRunner().invoke(app, ["drift"])

    assert flagged.exit_code == 1, flagged.output
    assert "drift FLAGGED" in flagged.output
    assert "on key feature volatility" in flagged.output
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)
    tags = client.get_registered_model(settings.model_name).tags
    assert tags["halted"] == "true"
    assert "on key feature volatility" in tags["halted_reason"]
    assert "momentum" not in tags["halted_reason"]
    assert tags["halted_version"] == "1"
    version_tags = client.get_model_version(settings.model_name, "1").tags
    assert "on key feature volatility" in version_tags["halted_reason"]
    assert version_tags["drift_flagged"] == "True"
    (verdict,) = (settings.reports_dir / "drift").glob("*/verdict.md")  # a person's reading
    assert verdict.read_text().startswith("# drift of tate-lgbm-momentum v1: HALTED")
    assert (
        "- halted: " in verdict.read_text() and "on key feature volatility" in verdict.read_text()
    )
    home_page = (settings.reports_dir / "index.html").read_text()
    assert '<span class="bad">HALTED</span>' in home_page

    resumed = CliRunner().invoke(app, ["resume", "--by", "alice"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed by alice" in resumed.output
    tags = client.get_registered_model(settings.model_name).tags
    assert tags["halted"] == "false" and tags["resumed_by"] == "alice"
    assert client.get_model_version(settings.model_name, "1").tags["resumed_by"] == "alice"


def test_decisions_drawn_like_the_training_data_do_not_halt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_home(tmp_path / "home", shift=0.0, seed=2)
    monkeypatch.setenv("TATE_HOME", str(settings.home))

    quiet = CliRunner().invoke(app, ["drift"])

    assert quiet.exit_code == 0, quiet.output
    assert "drift none" in quiet.output
    assert "hit_rate" in quiet.output and "inside its band" in quiet.output
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)
    assert "halted" not in client.get_registered_model(settings.model_name).tags


def test_a_model_whose_edge_is_gone_halts_on_concept_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_home(tmp_path / "home", shift=0.0, seed=3, edge_kept=False)
    monkeypatch.setenv("TATE_HOME", str(settings.home))

    flagged = CliRunner().invoke(app, ["drift"])

    assert flagged.exit_code == 1, flagged.output
    assert "FAIL: hit_rate" in flagged.output and "below its band" in flagged.output
    client = MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)
    reason = client.get_registered_model(settings.model_name).tags["halted_reason"]
    assert reason.startswith("concept drift: hit_rate")
    assert "key feature" not in reason
