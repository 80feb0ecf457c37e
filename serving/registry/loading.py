"""Load a registered model version only after proving it is the one that was registered.

Four refusals, each naming the version and the reason, before any model code runs:
- a version not signed by a key the worker trusts (``serving.registry.signatures``): the
  signature is missing, malformed, by an untrusted or revoked key, or made for another
  name, version, digest or run — whoever can write the registry can write a model and its
  digest tag, but not a signature;
- a pickled model (a cloudpickled ``python_model``, any ``*.pkl``) unless pickle is explicitly
  allowed — ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is false by default in tate, because
  unpickling runs arbitrary code;
- a copy whose digest differs from the ``tate.model_sha256`` tag recorded at registration (a
  flipped byte in the strategy file, the booster or ``MLmodel``), or a version without one;
- a signature whose inputs are not the MT5 rate columns the worker feeds (``time`` as int64
  epoch seconds, prices as double, volumes and spread as long).
The new model is then warmed (one decision on a synthetic window) in the loading thread, so
its first real bar does not pay LightGBM's lazy initialisation.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from data_contracts.synthetic import generate_market
from models.packaging import DIGEST_TAG, model_digest
from serving.mt5.types import RATES_DTYPE, RATES_FIELDS
from serving.registry.reader import RegistryReader, VersionRecord
from serving.registry.signatures import KeyRing, SignatureError, TrustConfigError, verify_version
from serving.sim.market import to_rates

if TYPE_CHECKING:
    from serving.registry.source import Model

logger = logging.getLogger(__name__)

PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
CODE_LOADER = "mlflow.pyfunc.loaders.code_model"
# MLflow column types each rate field may be declared as.
_TYPES_BY_KIND = {"i": {"long", "integer"}, "u": {"long", "integer"}, "f": {"double", "float"}}


class UnsafeModelError(ValueError):
    """A model version that must not be loaded; the message says which and why."""


def pickle_allowed() -> bool:
    """Only an explicit ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true`` allows pickled models."""
    return os.environ.get(PICKLE_ENV, "false").strip().lower() in ("true", "1")


def _pyfunc_flavor(mlmodel: dict[str, Any], label: str) -> dict[str, Any]:
    flavor = mlmodel.get("flavors", {}).get("python_function")
    if not isinstance(flavor, dict):
        raise UnsafeModelError(f"{label}: MLmodel has no python_function flavor")
    return flavor


def _check_no_pickle(directory: Path, flavor: dict[str, Any], label: str) -> None:
    pickles = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*.pkl"))
    if flavor.get("loader_module") != CODE_LOADER or pickles:
        what = ", ".join(pickles) or f"loader {flavor.get('loader_module')}"
        raise UnsafeModelError(
            f"{label} is a pickled model ({what}); refused because {PICKLE_ENV} is not true"
        )


def _check_signature(mlmodel: dict[str, Any], label: str) -> None:
    inputs = (mlmodel.get("signature") or {}).get("inputs")
    if not inputs:
        raise UnsafeModelError(f"{label} has no input signature")
    for column in json.loads(inputs):
        name, kind = column.get("name"), column.get("type")
        if name not in RATES_FIELDS:
            raise UnsafeModelError(
                f"{label}: signature input {name!r} is not an MT5 rate column {RATES_FIELDS}"
            )
        if kind not in _TYPES_BY_KIND[RATES_DTYPE[name].kind]:
            raise UnsafeModelError(
                f"{label}: signature input {name!r} is {kind!r}, the terminal gives "
                f"{RATES_DTYPE[name]}"
            )


def check_model_dir(
    directory: Path,
    record: VersionRecord,
    *,
    name: str,
    version: str,
    ring: KeyRing,
    allow_pickle: bool,
) -> None:
    """Raise ``UnsafeModelError`` unless the downloaded model may be loaded (see module doc)."""
    label = f"model {name!r} version {version}"
    expected_sha256 = record.tags.get(DIGEST_TAG)
    if not expected_sha256:
        raise UnsafeModelError(f"{label} has no {DIGEST_TAG} tag recorded at registration")
    actual = model_digest(directory)
    if actual != expected_sha256:
        raise UnsafeModelError(
            f"{label}: artifact digest {actual[:12]}… differs from {DIGEST_TAG} "
            f"{expected_sha256[:12]}… recorded at registration"
        )
    try:  # the digest the worker computed, the run the registry names: no tag is believed
        verify_version(
            record.tags, name=name, version=version, digest=actual, run_id=record.run_id or "",
            ring=ring,
        )  # fmt: skip
    except (SignatureError, TrustConfigError) as error:
        raise UnsafeModelError(f"{label} refused: {error}") from error
    mlmodel = yaml.safe_load((directory / "MLmodel").read_text())
    flavor = _pyfunc_flavor(mlmodel, label)
    if not allow_pickle:
        _check_no_pickle(directory, flavor, label)
    _check_signature(mlmodel, label)


def synthetic_window(length: int) -> np.ndarray:
    """The last ``length`` bars of the synthetic market's EURUSD in the terminal's layout, for
    warming a model without market data."""
    n_days = length // 12 + 7  # an H1 day holds ~17 trading bars once weekends are out
    bars = generate_market(symbols=("EURUSD",), delisted=None, n_days=n_days).bars["EURUSD"]
    return to_rates(bars.tail(length))


def warm(model: Model) -> None:
    """One decision on a synthetic window, so the first real bar pays no lazy set-up."""
    model.decide(synthetic_window(int(model.window)))


def download_model_version(name: str, version: str, *, tracking_uri: str, dst: Path) -> Path:
    """Copy a registered version's files into ``dst`` (emptied first); return where they are.

    Every MLflow call gets the registry explicitly. A ``models:/name/version`` URI would not
    do: MLflow resolves it (and a version's ``source``, itself a ``models:/`` URI in MLflow 3)
    through the process's *default* registry, which in a worker started on its own is
    ``./mlflow.db`` of whatever folder it was started from.
    """
    import shutil

    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    location = client.get_model_version_download_uri(name, version)
    if location.startswith("models:/"):
        raise UnsafeModelError(
            f"model {name!r} version {version}: the registry gives no storage location "
            f"(only {location}); re-register it from its run"
        )
    shutil.rmtree(dst, ignore_errors=True)  # a half-finished earlier download must not linger
    dst.mkdir(parents=True)
    return Path(
        download_artifacts(artifact_uri=location, dst_path=str(dst), tracking_uri=tracking_uri)
    )


def load_verified_model(
    name: str,
    version: str,
    *,
    reader: RegistryReader,
    tracking_uri: str,
    cache_dir: Path,
    ring: KeyRing,
    allow_pickle: bool | None = None,
) -> Model:
    """Download a registered version, check it, load it, warm it; return the python model.

    Explicit URIs pin the registry without touching MLflow's process-global tracking URI.
    ``ring`` holds the public keys (and revoked key ids) the worker's own settings trust.
    """
    import mlflow

    record = reader.model_version(name, version)
    local = download_model_version(
        name, version, tracking_uri=tracking_uri, dst=cache_dir / f"{name}-{version}"
    )
    allow = pickle_allowed() if allow_pickle is None else allow_pickle
    check_model_dir(local, record, name=name, version=version, ring=ring, allow_pickle=allow)
    model: Model = mlflow.pyfunc.load_model(str(local)).unwrap_python_model()
    warm(model)
    return model
