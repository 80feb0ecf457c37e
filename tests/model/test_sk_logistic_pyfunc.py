"""The scikit-learn family: logged as one bundled file with JSON parameters (no pickle), it
loads with pickle refused, and its numpy ``decide`` agrees with ``predict``."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import mlflow.pyfunc
import mlflow.tracking._tracking_service.utils as tracking_utils
import numpy as np
import pandas as pd
import pytest

from data_contracts.synthetic import SyntheticMarket, generate_market
from models.packaging import bundle_source, log_model_kwargs
from models.strategies.sk_logistic import FEATURE_NAMES, STRATEGY, WINDOW, frame_features
from models.training import TrainConfig, TrainingOutcome, run_training
from tests.model.test_lgbm_momentum_pyfunc import to_model_input, to_rates

FIRST_PARTY = {"models", "serving", "flows", "data_contracts", "bench", "tests"}


@pytest.fixture(scope="module")
def small_market() -> SyntheticMarket:
    return generate_market(symbols=("EURUSD", "GBPUSD"), delisted=None, n_days=200)


@pytest.fixture(scope="module")
def sk_outcome(small_market: SyntheticMarket) -> TrainingOutcome:
    return run_training(STRATEGY, small_market.bars, TrainConfig(), points=small_market.points)


@pytest.fixture
def model_uri(sk_outcome: TrainingOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/m.db")
    experiment_id = mlflow.create_experiment("sk", artifact_location=tmp_path.as_uri())
    kwargs = log_model_kwargs(
        sk_outcome.strategy, sk_outcome.booster, sk_outcome.model_config, tmp_path / "staging"
    )
    with mlflow.start_run(experiment_id=experiment_id):
        return str(mlflow.pyfunc.log_model(**kwargs).model_uri)


def test_the_bundle_imports_only_third_party_packages() -> None:
    source = bundle_source(STRATEGY)
    roots = {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not roots & FIRST_PARTY
    assert roots - set(sys.stdlib_module_names) - {"__future__"} == {
        "mlflow",
        "numpy",
        "pandas",
        "sklearn",
    }
    assert ast.unparse(ast.parse(source).body[-1]).startswith("mlflow.models.set_model(")


def test_training_finds_signal_and_saves_the_fit_as_json(
    sk_outcome: TrainingOutcome, tmp_path: Path
) -> None:
    assert sk_outcome.metrics["auc"] > 0.5  # the synthetic market has momentum to find
    artifacts = STRATEGY.write_artifacts(sk_outcome.booster, sk_outcome.model_config, tmp_path)
    saved = json.loads(Path(artifacts["logistic"]).read_text())
    assert saved["feature_names"] == list(FEATURE_NAMES)
    assert len(saved["coef"]) == len(FEATURE_NAMES)
    assert set(artifacts) == {"logistic", "config"}


def test_logged_model_loads_without_pickle_and_decide_agrees_with_predict(
    model_uri: str, small_market: SyntheticMarket, sk_outcome: TrainingOutcome
) -> None:
    bars = small_market.bars["EURUSD"]
    replay = bars.loc[bars["time"] >= pd.Timestamp(sk_outcome.holdout_start)].head(200)
    loaded = mlflow.pyfunc.load_model(model_uri)
    predicted = loaded.predict(to_model_input(replay))
    model = loaded.unwrap_python_model()
    rates = to_rates(replay)
    assert model.window == WINDOW
    assert (predicted["signal"].iloc[: WINDOW - 1] == 0).all()
    assert predicted["signal"].iloc[WINDOW - 1 :].abs().sum() > 0, "it takes positions"
    features = frame_features(replay)
    for end in range(WINDOW, len(rates) + 1, 5):
        decision = model.decide(rates[end - WINDOW : end])
        row = predicted.iloc[end - 1]
        assert decision.probability == pytest.approx(row["probability"], rel=1e-12)
        assert decision.signal == row["signal"]
        np.testing.assert_allclose(decision.features, features[end - 1], rtol=1e-12)


def test_decide_without_enough_history_stays_flat(model_uri: str) -> None:
    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    rates = to_rates(generate_market(symbols=("EURUSD",), delisted=None, n_days=5).bars["EURUSD"])
    decision = model.decide(rates[: WINDOW - 1])
    assert (decision.signal, decision.confidence) == (0, 0.0)
