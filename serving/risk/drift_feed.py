"""Feeding the drift breaker: the champion's key feature, against the served version's reference.

The worker hands every champion decision's features to ``DriftFeed.observe`` and calls
``evaluate`` once per bar. When the champion's version changes the breaker starts over
(``DriftBreaker.rebase``) against that version's reference, fetched through ``reference``
(its training sample, ``serving.registry.references``) or, when there is none or it fails,
a warm-up reference (``serving.risk.drift``). The key feature is ``RiskLimits.drift_feature``,
else the model's first feature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from numpy.typing import ArrayLike

from serving.metrics import WorkerMetrics
from serving.registry.source import LoadedModel
from serving.risk.drift import DriftBreaker

logger = logging.getLogger(__name__)

DriftReference = Callable[[LoadedModel, str], ArrayLike | None]
"""``(loaded model, feature) -> reference sample`` (its training values) or None to warm up."""


class DriftFeed:
    """Feeds one drift breaker from the champion's decisions and exports its score.

    Args:
        drift: the breaker.
        metrics: where the score is exported (``feature_drift_psi``).
        feature: the key feature's name (None: the model's first).
        reference: the reference sample of a loaded version (None: always warm up).
        log: where a missing reference or an unknown feature is said.
    """

    def __init__(
        self,
        drift: DriftBreaker,
        metrics: WorkerMetrics,
        feature: str | None = None,
        reference: DriftReference | None = None,
        log: logging.Logger = logger,
    ) -> None:
        self.drift, self.metrics, self.feature = drift, metrics, feature
        self.reference, self.log = reference, log
        self.version: str | None = None  # the version the breaker's reference belongs to
        # where the watched feature sits among the names last seen: found again when the
        # watched feature or the names change
        self._where: tuple[tuple[str, Sequence[str]] | None, int | None] = (None, None)

    def observe(self, loaded: LoadedModel, names: Sequence[str], features: Sequence[float]) -> None:
        """Feed the champion's key feature to the drift breaker; a new version starts over
        against its own reference."""
        drift = self.drift
        if loaded.version != self.version and names:
            self.version = loaded.version
            feature = self.feature or names[0]
            reference = None
            try:
                if self.reference is not None:
                    reference = self.reference(loaded, feature)
            except Exception:
                self.log.exception("no drift reference for v%s; warming up", loaded.version)
            drift.rebase(reference, feature)
            self.metrics.clear_feature_drift()
            if feature not in names:
                self.log.warning("drift feature %r is not among %s; not watched", feature, names)
        watched = drift.feature
        if watched is None:
            return
        if self._where[0] != (watched, names):  # names are the same tuple's equal every call
            self._where = ((watched, names), names.index(watched) if watched in names else None)
        index = self._where[1]
        if index is not None:
            drift.observe(float(features[index]))

    def evaluate(self) -> None:
        """Score the window (once per bar) and export the score."""
        score = self.drift.evaluate()
        if self.drift.feature is not None:
            self.metrics.set_feature_drift(self.drift.feature, score)
