"""A real MLflow registry on a SQLite file, tiny models-from-code, and the trainer's signing.

Shared by the loading and signature tests: versions are registered the way training registers
them (``log_model`` of a code file, then ``record_model_digest`` and ``sign_model_version``),
and an attacker's version is registered the way the issue reproduced it (a code file with one
extra line, plus a digest tag it computed itself).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow import MlflowClient
from mlflow.models.signature import ModelSignature

from flows.signing import create_signing_key, publish_public_key, read_signing_key
from flows.tracking import record_model_digest, sign_model_version
from models.strategies.lgbm_momentum import SIGNATURE

MODEL = "tiny"

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
        feature_names = FEATURE_NAMES
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


@contextmanager
def sqlite_registry(tmp_path: Path) -> Iterator[tuple[str, MlflowClient]]:
    """A registry in ``tmp_path`` and the fluent API pointed at it (and un-pointed after)."""
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


def code_model(folder: Path, code: str = MODEL_CODE) -> str:
    """A models-from-code file (its own folder, so two versions may differ in their file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny_model.py"
    path.write_text(code)
    return str(path)


def register(python_model: Any, signature: ModelSignature | None = SIGNATURE) -> str:
    """Log and register a version in a run of its own; return its version number."""
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=signature,
            registered_model_name=MODEL,
            pip_requirements=["mlflow"],
        )
    return str(info.registered_model_version)


def new_key(keys_dir: Path, name: str = "signing.key") -> Ed25519PrivateKey:
    """A fresh private key in ``keys_dir``, its public key published beside it."""
    create_signing_key(keys_dir / name)
    key = read_signing_key(keys_dir / name)
    publish_public_key(key, keys_dir)
    return key


def sign(client: MlflowClient, version: str, key: Ed25519PrivateKey) -> str:
    """What training does after registering: digest tag, then signature; return the key id."""
    digest = record_model_digest(client, MODEL, version)
    return sign_model_version(client, MODEL, version, digest, key)
