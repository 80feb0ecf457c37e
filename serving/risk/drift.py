"""The PSI breaker: live drift of one key feature against a reference distribution.

The worker feeds the champion's value of the key feature at every decision (all symbols
pooled, as training pooled them) into a rolling window; ``evaluate`` compares the window with
the reference using ``models.drift.psi`` — the statistic the drift flow reports — and trips
above ``threshold`` (0.25: the conventional "significant shift").

Where the reference comes from, in order of preference:
1. the training features of the version being served (its run's ``reference/features.parquet``),
   handed in by whoever assembles the worker (``rebase(reference)``) — drift against what the
   model learnt from, which is the question that matters;
2. otherwise a warm-up reference: the first ``window`` values seen after the version was
   loaded. That only notices the market moving *while* the model serves: a model deployed
   into an already-shifted market looks stable. It keeps the breaker useful when no training
   sample is at hand (a model logged without one, a registry that cannot be reached).

A long reference is reduced to its quantiles once (``REFERENCE_POINTS``), so each evaluation
costs the same however large the training set was.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from models.drift import PSI_EPSILON
from serving.risk.breakers import Breaker, Now

logger = logging.getLogger(__name__)

PSI_THRESHOLD = 0.25
REFERENCE_POINTS = 2001
# numpy sums up to this many values in one pairwise block (``PW_BLOCKSIZE``)
PAIRWISE_BLOCK = 128


def numpy_sum(values: Sequence[float]) -> float:
    """``float(np.sum(values))`` of a float64 sequence, bit for bit, in plain Python.

    A PSI is a sum of a dozen terms once per bar; numpy's own call, cold among the worker's
    other work, costs more than the terms. numpy adds up to ``PAIRWISE_BLOCK`` values as:
    fewer than 8 one by one from -0.0; else eight running sums over blocks of eight,
    combined pairwise, then the rest one by one; the reduction starts from its identity, 0.0.
    Longer sequences go to numpy. A test holds it to ``np.sum``.
    """
    n = len(values)
    if n > PAIRWISE_BLOCK:
        return float(np.sum(np.asarray(values, dtype=np.float64)))
    if n < 8:
        total = -0.0
        for value in values:
            total += value
        return 0.0 + total
    r = list(values[:8])
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += values[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for value in values[i:]:
        total += value
    return 0.0 + total


def compress_reference(values: ArrayLike, points: int = REFERENCE_POINTS) -> NDArray[np.float64]:
    """The finite values, or evenly spaced quantiles of them when there are more than
    ``points``: PSI bins on reference deciles, which the quantiles keep."""
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size <= points:
        return np.sort(a)
    return np.quantile(a, np.linspace(0.0, 1.0, points))


class ReferenceBins:
    """``models.drift.psi`` against one reference, with the reference's side worked out once.

    ``psi`` bins on the reference's deciles and needs its share per bin: a quantile and a
    search over the whole reference, every time. The breaker asks once per bar against the
    same reference, so the edges and shares are kept here and ``score`` does only the
    window's side: the same numpy operations in the same order, so the same number as
    ``psi(reference, current, bins)`` (a test holds them equal). ``bin_of`` and
    ``score_counts`` split that in two, for a window that keeps its counts per bin as values
    come and go (``DriftBreaker``).
    """

    def __init__(
        self, reference: NDArray[np.float64], bins: int, window: int | None = None
    ) -> None:
        ref = reference[np.isfinite(reference)]
        self.size = ref.size
        self.edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
        self._edges: list[float] = self.edges.tolist()  # for bisect: one value, no array
        share = np.bincount(
            np.searchsorted(self.edges, ref, side="right"), minlength=self.edges.size + 1
        )
        self.share = np.maximum(share / ref.size, PSI_EPSILON)
        # A full window of ``window`` values (a breaker's steady state) has at most
        # ``window + 1`` counts per bin: each bin's PSI term for each of them, worked out
        # once with the same elementwise numpy operations, so a score is a look-up and a sum
        # (``numpy_sum``: no numpy call per bar).
        self._window = window
        self._terms: list[list[float]] | None = None  # by bin, then count
        if window is not None and window > 0 and self.size > 0:
            self._terms = self._terms_of(window).tolist()

    def _terms_of(self, size: int) -> NDArray[np.float64]:
        """Each bin's PSI term (rows) for every count 0..size of a window of ``size``."""
        c = np.maximum(np.arange(size + 1) / size, PSI_EPSILON)[np.newaxis, :]
        r = self.share[:, np.newaxis]
        terms: NDArray[np.float64] = (c - r) * np.log(c / r)
        return terms

    @property
    def count(self) -> int:
        """Number of bins (edges + 1: open-ended at both ends)."""
        return len(self._edges) + 1

    def bin_of(self, value: float) -> int:
        """The bin of one finite value: ``np.searchsorted(edges, value, side="right")``."""
        return bisect_right(self._edges, value)

    def score(self, current: NDArray[np.float64]) -> float:
        """The PSI of ``current`` against the reference (NaN when either is empty)."""
        cur = current[np.isfinite(current)]
        counts = np.bincount(
            np.searchsorted(self.edges, cur, side="right"), minlength=self.edges.size + 1
        )
        return self.score_counts(counts, cur.size)

    def score_counts(self, counts: NDArray[np.int64] | list[int], size: int) -> float:
        """The PSI of a window of ``size`` finite values with ``counts`` per bin."""
        if self.size == 0 or size == 0:
            return float("nan")
        if size == self._window and self._terms is not None:
            return numpy_sum([terms[k] for terms, k in zip(self._terms, counts, strict=True)])
        c, r = np.maximum(np.asarray(counts, dtype=np.int64) / size, PSI_EPSILON), self.share
        return float(np.sum((c - r) * np.log(c / r)))


class DriftBreaker(Breaker):
    """Trips when the PSI of the key feature over the last ``window`` values exceeds
    ``threshold`` (evaluated once ``min_samples`` values are in the window).

    Args:
        now: the clock.
        feature: the key feature's name (for reasons and metrics).
        reference: the reference sample; None starts a warm-up reference.
        window: rolling window (and warm-up) length, in decisions.
        min_samples: values needed before the PSI is trusted.
    """

    def __init__(
        self,
        now: Now,
        *,
        feature: str | None = None,
        reference: ArrayLike | None = None,
        threshold: float = PSI_THRESHOLD,
        window: int = 500,
        min_samples: int = 200,
        bins: int = 10,
        name: str = "drift",
    ) -> None:
        super().__init__(name, now)
        self.threshold, self.min_samples, self.bins = threshold, min_samples, bins
        self.window = window
        self.feature = feature
        self.score = float("nan")
        self._values: deque[float] = deque(maxlen=window)
        self._reference: NDArray[np.float64] | None = None
        self._bins: ReferenceBins | None = None  # the reference's side of the PSI
        # the window's side, kept as values come and go: each value's bin (in step with
        # ``_values``) and the count per bin; rebuilt whenever the reference changes, emptied
        # with the window
        self._value_bins: deque[int] = deque()
        self._counts: list[int] = []
        self.rebase(reference, feature)

    @property
    def warming_up(self) -> bool:
        return self._reference is None

    def rebase(self, reference: ArrayLike | None, feature: str | None = None) -> None:
        """Start over against ``reference`` (None: warm up on the next ``window`` values) —
        when a new version serves, its reference replaces the last one's."""
        if feature is not None:
            self.feature = feature
        self._values.clear()
        self.score = float("nan")
        ref = None if reference is None else compress_reference(reference)
        if ref is not None and ref.size < self.min_samples:
            logger.warning(
                "drift reference for %s has %d values (< %d); warming up instead",
                self.feature,
                ref.size,
                self.min_samples,
            )
            ref = None
        self._use(ref)

    def _use(self, reference: NDArray[np.float64] | None) -> None:
        """Score against ``reference`` from now on: the window's values are binned anew."""
        self._reference = reference
        self._bins = None if reference is None else ReferenceBins(reference, self.bins, self.window)
        self._value_bins.clear()
        self._counts = []
        if self._bins is not None:
            self._counts = [0] * self._bins.count
            for value in self._values:
                self._count_in(value)

    def _count_in(self, value: float) -> None:
        assert self._bins is not None
        b = self._bins.bin_of(value)
        self._value_bins.append(b)
        self._counts[b] += 1

    def observe(self, value: float) -> None:
        """One decision's value of the key feature (NaN while its history fills is skipped)."""
        if not math.isfinite(value):
            return
        values = self._values
        if self._bins is not None:
            if len(values) == values.maxlen:  # the oldest value leaves with this one
                self._counts[self._value_bins.popleft()] -= 1
            self._count_in(float(value))
        values.append(float(value))
        if self._reference is None and len(values) == self.window:
            reference = compress_reference(values)
            values.clear()  # the window starts over against the reference it became
            self._use(reference)
            logger.info("drift reference for %s: the first %d values", self.feature, self.window)

    def evaluate(self) -> float:
        """The PSI of the window against the reference (NaN until there is enough); trips
        above the threshold. Called once per bar, not per decision: PSI is not free."""
        if self._reference is None or len(self._values) < self.min_samples:
            self.score = float("nan")
            return self.score
        assert self._bins is not None  # set with the reference
        self.score = self._bins.score_counts(self._counts, len(self._values))
        if self.score > self.threshold:
            self.trip(
                f"PSI of {self.feature} = {self.score:.3f} over the last {len(self._values)} "
                f"decisions > {self.threshold}"
            )
        return self.score

    def _clear(self) -> None:
        # the window that tripped would trip again at once; the reference stays
        self._clear_window()
        self.score = float("nan")

    def _clear_window(self) -> None:
        self._values.clear()
        self._value_bins.clear()
        self._counts = [0] * len(self._counts)
