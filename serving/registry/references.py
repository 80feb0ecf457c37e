"""A version's training features, for the drift breaker and the drift report.

Read from the version's run (``reference/features.parquet``) with an explicit registry, so a
worker started on its own reads the registry of its ``TATE_HOME``.
"""

from __future__ import annotations

import logging
import tempfile
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from serving.registry.source import LoadedModel

logger = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "reference/features.parquet"


def training_reference(name: str, version: str, tracking_uri: str | None) -> pd.DataFrame:
    """The features a version was trained on (its run's ``reference/features.parquet``)."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run_id = client.get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory(prefix="tate-reference-") as tmp:
        path = download_artifacts(
            run_id=run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri
        )
        return pd.read_parquet(path)


class TrainingReferences:
    """The drift breaker's reference: a version's training values of one feature, cached.

    Called on the worker's thread when the champion changes, so a failure returns None (the
    breaker then falls back to its warm-up reference) instead of stopping a bar.
    """

    def __init__(self, tracking_uri: str | None) -> None:
        self.tracking_uri = tracking_uri
        self._cache: dict[tuple[str, str], pd.DataFrame | None] = {}

    def __call__(self, loaded: LoadedModel, feature: str) -> np.ndarray | None:
        key = (loaded.name, loaded.version)
        if key not in self._cache:
            try:
                self._cache[key] = training_reference(
                    loaded.name, loaded.version, self.tracking_uri
                )
            except Exception as error:
                logger.warning("no training reference for %s v%s: %s", *key, error)
                self._cache[key] = None
        frame = self._cache[key]
        if frame is None or feature not in frame:
            return None
        return frame[feature].to_numpy(np.float64)
