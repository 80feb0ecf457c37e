"""The strategy file logged as models-from-code loads without pickle and decides like it predicts."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow.pyfunc
import mlflow.tracking._tracking_service.utils as tracking_utils
import numpy as np
import pandas as pd
import pytest

from data_contracts.synthetic import SyntheticMarket
from models.packaging import bundle_source, log_model_kwargs, model_digest
from models.strategies.lgbm_momentum import (
    FEATURE_NAMES,
    STRATEGY,
    WINDOW,
    Decision,
    LgbmMomentumModel,
    build_features,
)
from models.training import TrainingOutcome
from serving.mt5.types import RATES_DTYPE  # what copy_rates_from_pos returns


def to_model_input(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars as the signature expects them: time as int64 epoch seconds."""
    frame = bars.reset_index(drop=True).copy()
    frame["time"] = frame["time"].astype("int64") // 10**9
    return frame


def to_rates(bars: pd.DataFrame) -> np.ndarray:
    """Bars as the structured array copy_rates_from_pos returns."""
    frame = to_model_input(bars)
    rates = np.empty(len(frame), dtype=RATES_DTYPE)
    for name in RATES_DTYPE.names:
        rates[name] = frame[name].to_numpy()
    return rates


@pytest.fixture
def replay_bars(market: SyntheticMarket, outcome: TrainingOutcome) -> pd.DataFrame:
    bars = market.bars["EURUSD"]
    return bars.loc[bars["time"] >= pd.Timestamp(outcome.holdout_start)].head(300)


@pytest.fixture
def local_model(outcome: TrainingOutcome, tmp_path: Path) -> LgbmMomentumModel:
    artifacts = STRATEGY.write_artifacts(outcome.booster, outcome.model_config, tmp_path / "art")
    model = LgbmMomentumModel()
    model.load_artifacts(artifacts["booster"], artifacts["config"])
    return model


@pytest.fixture
def logged(
    outcome: TrainingOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[str]]:
    """The trained model logged as a flow logs it, in a throw-away SQLite store; with what
    MLflow warned while logging it."""
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/m.db")
    experiment_id = mlflow.create_experiment("slice", artifact_location=tmp_path.as_uri())
    kwargs = log_model_kwargs(
        outcome.strategy, outcome.booster, outcome.model_config, tmp_path / "staging"
    )
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.addHandler(handler)
    try:
        with mlflow.start_run(experiment_id=experiment_id):
            uri = str(mlflow.pyfunc.log_model(**kwargs).model_uri)
    finally:
        mlflow_logger.removeHandler(handler)
    return uri, [record.getMessage() for record in records]


@pytest.fixture
def model_uri(logged: tuple[str, list[str]]) -> str:
    return logged[0]


def test_logging_the_model_warns_nothing_about_pip_and_pins_what_the_bundle_imports(
    logged: tuple[str, list[str]], tmp_path: Path
) -> None:
    uri, warned = logged
    assert not [message for message in warned if "pip" in message]
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "dl")))
    pinned = {line.split("==")[0] for line in (local / "requirements.txt").read_text().split()}
    assert pinned == {"lightgbm", "mlflow", "numpy", "pandas"}


def test_the_logged_model_runs_the_bundle_and_its_digest_covers_it(
    model_uri: str, tmp_path: Path
) -> None:
    local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "dl")))
    code = local / "lgbm_momentum.py"
    assert code.read_text() == bundle_source(STRATEGY)
    pyfunc = mlflow.models.Model.load(str(local)).flavors["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert Path(pyfunc["model_code_path"]).name == code.name  # what the loader runs
    before = model_digest(local)
    data = bytearray(code.read_bytes())
    data[len(data) // 2] ^= 0x01
    code.write_bytes(bytes(data))
    assert model_digest(local) != before


def test_logged_model_loads_without_pickle_and_decide_agrees_with_predict(
    model_uri: str, replay_bars: pd.DataFrame
) -> None:
    loaded = mlflow.pyfunc.load_model(model_uri)
    predicted = loaded.predict(to_model_input(replay_bars))
    model = loaded.unwrap_python_model()
    rates = to_rates(replay_bars)

    assert list(predicted.columns) == ["probability", "signal", "confidence"]
    assert (predicted["signal"].iloc[: WINDOW - 1] == 0).all()
    assert model.window == WINDOW
    for end in range(WINDOW, len(rates) + 1, 7):
        decision = model.decide(rates[end - WINDOW : end])
        row = predicted.iloc[end - 1]
        assert decision._fields == Decision._fields  # the loaded file's own NamedTuple class
        assert decision.probability == pytest.approx(row["probability"], rel=1e-12)
        assert decision.signal == row["signal"]
        assert decision.confidence == pytest.approx(row["confidence"], rel=1e-12)


def test_decide_returns_the_features_it_computed(
    local_model: LgbmMomentumModel, replay_bars: pd.DataFrame
) -> None:
    rates = to_rates(replay_bars)
    decision = local_model.decide(rates[-WINDOW:])
    full = build_features(
        *(replay_bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")),
        replay_bars["tick_volume"].to_numpy(np.float64),
        replay_bars["spread"].to_numpy(np.float64),
    )
    assert decision.features.shape == (len(FEATURE_NAMES),)
    np.testing.assert_allclose(decision.features, full[-1], rtol=1e-12)
    assert decision.signal in (-1, 0, 1)
    assert 0.0 <= decision.confidence <= 1.0


def test_decide_without_enough_history_stays_flat(
    local_model: LgbmMomentumModel, replay_bars: pd.DataFrame
) -> None:
    decision = local_model.decide(to_rates(replay_bars)[: WINDOW - 1])
    assert decision.signal == 0
    assert decision.confidence == 0.0


def test_decision_does_not_depend_on_the_price_level(
    local_model: LgbmMomentumModel, replay_bars: pd.DataFrame
) -> None:
    rates = to_rates(replay_bars)[-WINDOW:]
    rescaled = rates.copy()
    for name in ("open", "high", "low", "close"):
        rescaled[name] = rescaled[name] * 100.0
    original, scaled = local_model.decide(rates), local_model.decide(rescaled)
    assert scaled.signal == original.signal
    assert scaled.probability == pytest.approx(original.probability, abs=1e-9)
