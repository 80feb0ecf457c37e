"""AliasPoller follows registry aliases, reloads only on a version change, survives outages."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from serving.model_source import AliasPoller


class FakeVersion:
    def __init__(self, version: str) -> None:
        self.version = version


class FakeRegistry:
    """Aliases a test moves by hand; ``down`` simulates an unreachable server."""

    def __init__(self, **aliases: str) -> None:
        self.aliases = dict(aliases)
        self.down = False
        self.calls: list[str] = []

    def get_model_version_by_alias(self, name: str, alias: str) -> FakeVersion:
        self.calls.append(alias)
        if self.down:
            raise MlflowException("API request failed: connection refused")
        if alias not in self.aliases:
            raise MlflowException(
                f"Registered model alias {alias} not found.", INVALID_PARAMETER_VALUE
            )
        return FakeVersion(self.aliases[alias])


class RecordingLoader:
    def __init__(self) -> None:
        self.loaded: list[tuple[str, str]] = []
        self.fail_versions: set[str] = set()

    def __call__(self, name: str, version: str) -> Any:
        if version in self.fail_versions:
            raise OSError("artifact download failed")
        self.loaded.append((name, version))
        return f"model-{version}"


def _poller(registry: FakeRegistry, loader: RecordingLoader) -> AliasPoller:
    return AliasPoller("m", client=registry, loader=loader, cache_dir=Path("/nonexistent"))


def test_missing_alias_means_the_role_is_absent() -> None:
    poller = _poller(FakeRegistry(champion="3"), loader := RecordingLoader())
    poller.refresh()
    assert set(poller.current()) == {"champion"} and poller.registry_reachable
    assert loader.loaded == [("m", "3")]


def test_models_reload_only_when_the_alias_moves() -> None:
    registry = FakeRegistry(champion="3", canary="4")
    poller = _poller(registry, loader := RecordingLoader())
    poller.refresh()
    poller.refresh()
    registry.aliases["champion"] = "4"
    del registry.aliases["canary"]
    poller.refresh()
    assert loader.loaded == [("m", "3"), ("m", "4"), ("m", "4")]
    assert {r: m.version for r, m in poller.current().items()} == {"champion": "4"}
    assert poller.current()["champion"].model == "model-4"


def test_registry_outage_keeps_the_last_good_models() -> None:
    registry = FakeRegistry(champion="3")
    poller = _poller(registry, RecordingLoader())
    poller.refresh()
    registry.down = True
    poller.refresh()
    assert not poller.registry_reachable
    assert poller.current()["champion"].version == "3"
    registry.down = False
    poller.refresh()
    assert poller.registry_reachable


def test_a_version_that_fails_to_load_leaves_the_previous_one_serving() -> None:
    registry = FakeRegistry(champion="3")
    poller = _poller(registry, loader := RecordingLoader())
    poller.refresh()
    loader.fail_versions.add("5")
    registry.aliases["champion"] = "5"
    poller.refresh()
    assert poller.current()["champion"].version == "3"


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

        def predict(self, context, model_input, params=None):
            return model_input

        def decide(self, window):
            close = float(window["close"][-1])
            return Decision(1, 0.5, 0.6, np.array([close]))

    mlflow.models.set_model(TinyModel())
    """
)


def test_real_registry_aliases_load_the_unwrapped_python_model(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = tmp_path / "tiny_model.py"
    code.write_text(MODEL_CODE)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("serving", artifact_location=(tmp_path / "art").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            mlflow.pyfunc.log_model(
                name="model", python_model=str(code), registered_model_name="tiny"
            )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    client.set_registered_model_alias("tiny", "champion", "1")
    poller = AliasPoller("tiny", tracking_uri=uri, cache_dir=tmp_path / "cache")
    poller.refresh()
    loaded = poller.current()
    assert set(loaded) == {"champion"} and poller.registry_reachable
    model = loaded["champion"].model
    window = np.zeros(3, dtype=[("time", "<i8"), ("close", "<f8")])
    window["close"] = [1.0, 1.1, 1.2]
    assert model.window == 3
    assert model.decide(window).features.tolist() == pytest.approx([1.2])
