"""What a flow needs to log the strategy as an MLflow models-from-code model.

No tracking calls here (flows/ log): this module names the strategy file, writes the booster
(LightGBM's own text format, no pickle) and the decision config into a directory, and builds
the keyword arguments for ``mlflow.pyfunc.log_model``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightgbm as lgb
from mlflow.models.signature import ModelSignature

from models.strategies import lgbm_momentum

STRATEGY_FILE: Path = Path(lgbm_momentum.__file__).resolve()
BOOSTER_FILE = "booster.txt"
CONFIG_FILE = "config.json"
# Third-party packages the strategy file imports; pinned so a served model's environment
# matches training (and so MLflow does not spend seconds inferring them).
MODEL_PACKAGES: tuple[str, ...] = ("mlflow", "lightgbm", "numpy", "pandas")


def pip_requirements() -> list[str]:
    """Pinned requirements of the strategy file, from the installed versions."""
    return [f"{name}=={version(name)}" for name in MODEL_PACKAGES]


def model_signature() -> ModelSignature:
    """Signature of the strategy's pyfunc: time as int64 epoch seconds, prices, volumes."""
    return lgbm_momentum.SIGNATURE


def write_model_artifacts(
    booster: lgb.Booster, config: Mapping[str, Any], directory: Path
) -> dict[str, str]:
    """Write ``booster.txt`` and ``config.json`` into ``directory``; return the artifacts map."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path = directory / BOOSTER_FILE
    config_path = directory / CONFIG_FILE
    booster.save_model(str(booster_path))
    config_path.write_text(json.dumps(dict(config), indent=2, sort_keys=True))
    return {"booster": str(booster_path), "config": str(config_path)}


def log_model_kwargs(
    booster: lgb.Booster, config: Mapping[str, Any], directory: Path, *, name: str = "model"
) -> dict[str, Any]:
    """Keyword arguments for ``mlflow.pyfunc.log_model(**kwargs)`` (models-from-code)."""
    return {
        "name": name,
        "python_model": str(STRATEGY_FILE),
        "artifacts": write_model_artifacts(booster, config, directory),
        "signature": model_signature(),
        "input_example": lgbm_momentum.input_example(),
        "pip_requirements": pip_requirements(),
    }


DIGEST_TAG = "tate.model_sha256"
# Written by MLflow into a registry download, not part of what was logged.
NOT_DIGESTED: frozenset[str] = frozenset({"registered_model_meta"})


def model_digest(directory: Path) -> str:
    """sha256 over every file of a logged model (relative path and content, sorted).

    Registration records it as the version tag ``tate.model_sha256``; the worker recomputes it
    on the downloaded copy before loading, so a flipped byte in the strategy code, the booster
    or the MLmodel file is refused, not traded.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name not in NOT_DIGESTED)
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
