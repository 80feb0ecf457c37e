"""Only the registered bytes load: pickled models, flipped bytes, missing digests and foreign
signatures are refused before any model code runs (real MLflow registry on SQLite)."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from flows.tracking import record_model_digest
from models.packaging import DIGEST_TAG
from models.strategies.lgbm_momentum import SIGNATURE
from serving.registry.loading import UnsafeModelError, load_verified_model
from serving.registry.reader import ClientRegistryReader
from serving.registry.source import AliasPoller

MODEL_CODE = textwrap.dedent(
    """
    from typing import NamedTuple
    import mlflow
    import numpy as np

    FEATURE_NAMES = ("last_close",)

    class Decision(NamedTuple):
        signal: int
        confidence: float
        probability: float
        features: np.ndarray

    class TinyModel(mlflow.pyfunc.PythonModel):
        window = 3
        decisions = 0

        def predict(self, context, model_input, params=None):
            return model_input

        def decide(self, window):
            TinyModel.decisions += 1
            close = float(window["close"][-1])
            return Decision(1, 0.5, 0.6, np.array([close]))

    mlflow.models.set_model(TinyModel())
    """
)


class PickledModel(mlflow.pyfunc.PythonModel):
    window = 3

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, MlflowClient]]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("serving", artifact_location=(tmp_path / "art").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("serving")
    try:
        yield uri, client
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def _register(
    tmp_path: Path, python_model: Any, signature: ModelSignature | None = SIGNATURE
) -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=signature,
            registered_model_name="tiny",
            pip_requirements=["mlflow"],
        )
    return str(info.registered_model_version)


def _code_model(tmp_path: Path) -> str:
    code = tmp_path / "tiny_model.py"
    code.write_text(MODEL_CODE)
    return str(code)


def _load(uri: str, version: str, tmp_path: Path, **kwargs: Any) -> Any:
    return load_verified_model(
        "tiny",
        version,
        reader=ClientRegistryReader(uri),
        tracking_uri=uri,
        cache_dir=tmp_path / "cache",
        **kwargs,
    )


def _stored_file(tmp_path: Path, name: str) -> Path:
    """The registry's stored copy (under the experiment's artifact root), not a download."""
    return next((tmp_path / "art").rglob(name))


def test_registered_code_model_loads_warms_and_decides(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    version = _register(tmp_path, _code_model(tmp_path))
    record_model_digest(client, "tiny", version)
    model = _load(uri, version, tmp_path)
    assert type(model).decisions == 1  # warmed once on a synthetic window
    window = np.zeros(3, dtype=[("time", "<i8"), ("close", "<f8")])
    window["close"] = [1.0, 1.1, 1.2]
    assert model.decide(window).features.tolist() == pytest.approx([1.2])


def test_a_flipped_byte_in_the_stored_model_is_refused(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    version = _register(tmp_path, _code_model(tmp_path))
    record_model_digest(client, "tiny", version)
    stored = _stored_file(tmp_path, "tiny_model.py")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    with pytest.raises(UnsafeModelError, match=r"differs from tate\.model_sha256"):
        _load(uri, version, tmp_path)


def test_a_version_without_a_recorded_digest_is_refused(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, _ = registry
    version = _register(tmp_path, _code_model(tmp_path))
    with pytest.raises(UnsafeModelError, match=f"no {DIGEST_TAG}"):
        _load(uri, version, tmp_path)


def test_a_pickled_model_is_refused_unless_pickle_is_allowed(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    version = _register(tmp_path, PickledModel())
    record_model_digest(client, "tiny", version)
    with pytest.raises(UnsafeModelError, match="pickled model"):
        _load(uri, version, tmp_path, allow_pickle=False)


def test_a_signature_that_is_not_mt5_rates_is_refused(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    foreign = ModelSignature(inputs=Schema([ColSpec("string", "headline")]))
    version = _register(tmp_path, _code_model(tmp_path), signature=foreign)
    record_model_digest(client, "tiny", version)
    with pytest.raises(UnsafeModelError, match="'headline' is not an MT5 rate column"):
        _load(uri, version, tmp_path)


def test_poller_keeps_the_verified_champion_when_a_tampered_version_is_aliased(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    good = _register(tmp_path, _code_model(tmp_path))
    record_model_digest(client, "tiny", good)
    client.set_registered_model_alias("tiny", "champion", good)
    poller = AliasPoller.for_registry("tiny", uri, cache_dir=tmp_path / "cache")
    poller.refresh()
    assert poller.current()["champion"].version == good
    shutil.rmtree(tmp_path / "cache")
    bad = _register(tmp_path, _code_model(tmp_path))
    client.set_model_version_tag("tiny", bad, DIGEST_TAG, "0" * 64)
    client.set_registered_model_alias("tiny", "champion", bad)
    poller.refresh()
    assert poller.registry_reachable
    assert poller.current()["champion"].version == good
