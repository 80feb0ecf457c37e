"""Only the registered bytes load: pickled models, flipped bytes, missing digests and foreign
input signatures are refused before any model code runs (real MLflow registry on SQLite)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow import MlflowClient
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from models.packaging import DIGEST_TAG
from serving.registry.loading import UnsafeModelError, load_verified_model
from serving.registry.reader import ClientRegistryReader
from serving.registry.signatures import KeyRing
from serving.registry.source import AliasPoller
from tests.signed_models import code_model, new_key, register, sign, sqlite_registry


class PickledModel(mlflow.pyfunc.PythonModel):
    window = 3

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, MlflowClient]]:
    with sqlite_registry(tmp_path) as found:
        yield found


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return new_key(tmp_path / "keys")


def _code_model(tmp_path: Path) -> str:
    return code_model(tmp_path / "code")


def _load(uri: str, version: str, tmp_path: Path, **kwargs: Any) -> Any:
    return load_verified_model(
        "tiny",
        version,
        reader=ClientRegistryReader(uri),
        tracking_uri=uri,
        cache_dir=tmp_path / "cache",
        ring=KeyRing([tmp_path / "keys"]),
        **kwargs,
    )


def _stored_file(tmp_path: Path, name: str) -> Path:
    """The registry's stored copy (under the experiment's artifact root), not a download."""
    return next((tmp_path / "art").rglob(name))


def test_registered_code_model_loads_warms_and_decides(
    registry: tuple[str, MlflowClient], tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    uri, client = registry
    version = register(_code_model(tmp_path))
    sign(client, version, key)
    model = _load(uri, version, tmp_path)
    assert type(model).decisions == 1  # warmed once on a synthetic window
    window = np.zeros(3, dtype=[("time", "<i8"), ("close", "<f8")])
    window["close"] = [1.0, 1.1, 1.2]
    assert model.decide(window).features.tolist() == pytest.approx([1.2])


def test_a_flipped_byte_in_the_stored_model_is_refused(
    registry: tuple[str, MlflowClient], tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    uri, client = registry
    version = register(_code_model(tmp_path))
    sign(client, version, key)
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
    version = register(_code_model(tmp_path))
    with pytest.raises(UnsafeModelError, match=f"no {DIGEST_TAG}"):
        _load(uri, version, tmp_path)


def test_a_pickled_model_is_refused_unless_pickle_is_allowed(
    registry: tuple[str, MlflowClient], tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    uri, client = registry
    version = register(PickledModel())
    sign(client, version, key)
    with pytest.raises(UnsafeModelError, match="pickled model"):
        _load(uri, version, tmp_path, allow_pickle=False)


def test_a_signature_that_is_not_mt5_rates_is_refused(
    registry: tuple[str, MlflowClient], tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    uri, client = registry
    foreign = ModelSignature(inputs=Schema([ColSpec("string", "headline")]))
    version = register(_code_model(tmp_path), signature=foreign)
    sign(client, version, key)
    with pytest.raises(UnsafeModelError, match="'headline' is not an MT5 rate column"):
        _load(uri, version, tmp_path)


def test_poller_keeps_the_verified_champion_when_a_tampered_version_is_aliased(
    registry: tuple[str, MlflowClient], tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    uri, client = registry
    good = register(_code_model(tmp_path))
    sign(client, good, key)
    client.set_registered_model_alias("tiny", "champion", good)
    poller = AliasPoller.for_registry(
        "tiny", uri, ring=KeyRing([tmp_path / "keys"]), cache_dir=tmp_path / "cache"
    )
    poller.refresh()
    assert poller.current()["champion"].version == good
    shutil.rmtree(tmp_path / "cache")
    bad = register(_code_model(tmp_path))
    client.set_model_version_tag("tiny", bad, DIGEST_TAG, "0" * 64)
    client.set_registered_model_alias("tiny", "champion", bad)
    poller.refresh()
    assert poller.registry_reachable
    assert poller.current()["champion"].version == good
