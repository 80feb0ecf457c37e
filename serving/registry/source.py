"""Where the worker's models come from: registry aliases, resolved off the hot path.

The MLflow registry is the control plane: aliases ``champion`` and ``canary`` say what
trades, and a registered-model tag ``halted`` (set by a flow or by a person in the MLflow UI)
stops new positions. ``AliasPoller`` reads both in one short call, loads a version only when
its alias moves to it (verified and warmed by ``serving.registry.loading``), and keeps the last
good models when the registry cannot be reached — trading continues on what was loaded and
``registry_reachable`` turns False for the metrics. A missing alias means that role is absent
(no canary running), which is not an error.

``BackgroundPoller`` runs an ``AliasPoller`` on its own thread, so a slow registry or a
model download never delays a bar; the worker only reads the published models between bars.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike

from serving.registry.loading import load_verified_model
from serving.registry.reader import RegistryReader, RegistryUnreachableError, registry_reader
from serving.registry.signatures import KeyRing, TrustConfigError

logger = logging.getLogger(__name__)

HALTED_TAG = "halted"
HALTED_REASON_TAG = "halted_reason"
_NOT_HALTED = {"", "false", "0", "no"}
CANARY_FRACTION_TAG = "tate.canary_fraction"
"""Version tag the canary gate widens; overrides the worker's configured canary fraction."""


class Decision(Protocol):
    """What a model says about one closed bar: side, how sure, and the features it read."""

    @property
    def signal(self) -> int: ...

    @property
    def confidence(self) -> float: ...

    @property
    def probability(self) -> float: ...

    @property
    def features(self) -> ArrayLike: ...


class Model(Protocol):
    """The unwrapped python model the worker runs: ``decide`` on the last ``window`` closed
    bars (a ``RATES_DTYPE`` array). It may also name its features (``feature_names``)."""

    @property
    def window(self) -> int: ...

    def decide(self, window: np.ndarray) -> Decision: ...


class LoadedModel(NamedTuple):
    name: str
    version: str
    role: str
    model: Model
    risk_fraction: float | None = None  # the version's ``tate.canary_fraction``, clamped


def risk_fraction(tags: Mapping[str, str]) -> float | None:
    """The version's canary fraction tag clamped to (0, 1]; None when absent or not a
    positive number (the worker's configured fraction applies)."""
    try:
        value = float(tags[CANARY_FRACTION_TAG])
    except (KeyError, ValueError):
        return None
    return min(value, 1.0) if value > 0 else None


class ModelSource(Protocol):
    """What the worker needs from a model source.

    ``unavailable`` says, per alias that serves nothing, why (no such alias, the version
    failed to load or was refused), so a worker with nothing to trade can say so;
    ``failures`` counts failed load attempts for the metrics. Read-only properties: the worker
    only reads them, and a source may keep them as plain attributes or derive them.
    """

    @property
    def registry_reachable(self) -> bool: ...

    @property
    def halted(self) -> str | None: ...

    @property
    def unavailable(self) -> Mapping[str, str]: ...

    @property
    def failures(self) -> Mapping[tuple[str, str], int]: ...  # (role, version) -> failed loads

    def current(self) -> Mapping[str, LoadedModel]: ...

    def refresh(self) -> None: ...


def halt_reason(tags: Mapping[str, str]) -> str | None:
    """Why the registered model is halted, or None: ``halted`` is any value but false/0/no."""
    value = tags.get(HALTED_TAG)
    if value is None or value.strip().lower() in _NOT_HALTED:
        return None
    reason = tags.get(HALTED_REASON_TAG) or value
    return f"registered model tagged halted: {reason}"


def say_trust(ring: KeyRing) -> None:
    """Log once at start which signing keys this worker trusts, so an operator can check."""
    try:
        trusted = sorted(ring.keys())
    except TrustConfigError as error:
        logger.error("model signatures: %s; every version is refused until it is fixed", error)
        return
    revoked = f"; revoked: {', '.join(sorted(ring.revoked))}" if ring.revoked else ""
    logger.info(
        "models load only when signed by a trusted key; trusted key ids: %s (from %s)%s",
        ", ".join(trusted) or "none yet",
        ring.describe(),
        revoked,
    )


@dataclass
class LoadFailure:
    """A version that failed to load: why, how often, and when it may be tried again."""

    reason: str
    attempts: int
    retry_at: float


class AliasPoller:
    """Resolves registry aliases to loaded models, keeping the last good ones.

    A version that fails to load (or is refused) is not tried again on every refresh: the
    next attempt waits ``retry_seconds`` (doubling per failure up to ``max_retry_seconds``),
    the refusal is logged once per version, and ``failures`` counts every attempt for the
    metrics.

    Args:
        model_name: registered model name.
        reader: registry reader (short time limits; see ``serving.registry.reader``).
        loader: ``(name, version) -> python model``; raises to refuse a version.
        aliases: roles to look up; each alias name is the role name.
        retry_seconds, max_retry_seconds: back-off after a failed load.
        now: monotonic seconds (a fake in tests).
    """

    def __init__(
        self,
        model_name: str,
        reader: RegistryReader,
        loader: Callable[[str, str], Model],
        aliases: tuple[str, ...] = ("champion", "canary"),
        *,
        retry_seconds: float = 5.0,
        max_retry_seconds: float = 300.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model_name, self.aliases = model_name, aliases
        self._reader, self._loader = reader, loader
        self._models: Mapping[str, LoadedModel] = MappingProxyType({})
        self._failed: dict[str, LoadFailure] = {}
        self.retry_seconds, self.max_retry_seconds = retry_seconds, max_retry_seconds
        self._now = now
        self.registry_reachable = False
        self.halted: str | None = None
        self.unavailable: Mapping[str, str] = MappingProxyType({})
        self.failures: dict[tuple[str, str], int] = {}  # (role, version) -> failed attempts

    @classmethod
    def for_registry(
        cls,
        model_name: str,
        tracking_uri: str,
        *,
        ring: KeyRing,
        aliases: tuple[str, ...] = ("champion", "canary"),
        cache_dir: Path | None = None,
        timeout_seconds: float = 2.0,
        retries: int = 1,
        retry_seconds: float = 5.0,
    ) -> AliasPoller:
        """A poller on a real registry, loading verified models into ``cache_dir``.

        Only versions signed by a key in ``ring`` (the worker's own trust setting) load.
        """
        say_trust(ring)
        reader = registry_reader(tracking_uri, timeout_seconds=timeout_seconds, retries=retries)
        cache = cache_dir or Path(tempfile.mkdtemp(prefix="tate-models-"))

        def load(name: str, version: str) -> Model:
            return load_verified_model(
                name, version, reader=reader, tracking_uri=tracking_uri, cache_dir=cache,
                ring=ring,
            )  # fmt: skip

        return cls(model_name, reader, load, aliases, retry_seconds=retry_seconds)

    def current(self) -> Mapping[str, LoadedModel]:
        """The published models: a read-only mapping replaced whole, never edited in place."""
        return self._models

    def refresh(self) -> None:
        """Re-read aliases and tags; load versions that changed; drop roles whose alias is gone."""
        try:
            snapshot = self._reader.snapshot(self.model_name)
        except RegistryUnreachableError as error:
            if self.registry_reachable:
                logger.warning("registry unreachable; keeping the last good models: %s", error)
            self.registry_reachable = False
            return
        self.registry_reachable = True
        self.halted = halt_reason(snapshot.tags)
        models = dict(self._models)
        unavailable: dict[str, str] = {}
        for role in set(models) - {a for a in self.aliases if a in snapshot.aliases}:
            logger.info("alias %s removed; role %s stops", role, role)
            del models[role]
        for role in self.aliases:
            version = snapshot.aliases.get(role)
            loaded = models.get(role)
            if version is None:
                unavailable[role] = f"model {self.model_name!r} has no alias {role!r}"
                continue
            if loaded is not None and loaded.version == version:
                continue
            model = self._load(version, role)
            if model is not None:
                logger.info("%s now serves %s v%s", role, self.model_name, version)
                models[role] = LoadedModel(self.model_name, version, role, model)
            elif role not in models:
                unavailable[role] = (
                    f"{role} -> {self.model_name!r} v{version} failed to load "
                    f"(retried with back-off): {self._failed[version].reason}"
                )
        if "canary" in models:  # the gate widens it by tag: read at every poll
            models["canary"] = self._with_fraction(models["canary"])
        self._models = MappingProxyType(models)
        self.unavailable = MappingProxyType(unavailable)

    def _with_fraction(self, loaded: LoadedModel) -> LoadedModel:
        try:
            tags = self._reader.model_version(self.model_name, loaded.version).tags
        except Exception as error:  # keep the last known fraction
            logger.warning(
                "reading v%s's tags failed; fraction unchanged: %s", loaded.version, error
            )
            return loaded
        return loaded._replace(risk_fraction=risk_fraction(tags))

    def _load(self, version: str, role: str) -> Model | None:
        """The loaded model, or None when it fails, is refused, or is still backing off."""
        failure = self._failed.get(version)
        if failure is not None and self._now() < failure.retry_at:
            return None
        try:
            model = self._loader(self.model_name, version)
        except Exception as error:
            attempts = 1 if failure is None else failure.attempts + 1
            wait = min(self.max_retry_seconds, self.retry_seconds * 2 ** (attempts - 1))
            self._failed[version] = LoadFailure(str(error), attempts, self._now() + wait)
            self.failures[(role, version)] = self.failures.get((role, version), 0) + 1
            if failure is None:
                logger.error(
                    "loading %s v%s for %s failed (retrying with back-off); %s: %s",
                    self.model_name,
                    version,
                    role,
                    "keeping the last good" if role in self._models else "nothing serves it",
                    error,
                )
            return None
        self._failed.pop(version, None)
        return model


class BackgroundPoller:
    """Refreshes an ``AliasPoller`` every ``interval_seconds`` on a daemon thread.

    ``refresh()`` is a no-op for the worker (the thread refreshes); ``current()`` returns the
    last published models, so a swap lands between two bars, never inside one.
    """

    def __init__(self, poller: AliasPoller, interval_seconds: float = 5.0) -> None:
        self.poller, self.interval_seconds = poller, interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0

    @property
    def registry_reachable(self) -> bool:
        return self.poller.registry_reachable

    @property
    def halted(self) -> str | None:
        return self.poller.halted

    @property
    def unavailable(self) -> Mapping[str, str]:
        return self.poller.unavailable

    @property
    def failures(self) -> Mapping[tuple[str, str], int]:
        return self.poller.failures

    def current(self) -> Mapping[str, LoadedModel]:
        return self.poller.current()

    def refresh(self) -> None:
        """Nothing to do on the worker's thread: the poller thread refreshes."""

    def start(self) -> BackgroundPoller:
        """Load the current models once (the worker starts with them), then poll in the background."""
        self._poll_once()
        self._thread = threading.Thread(target=self._loop, name="alias-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_seconds + 30)
            if self._thread.is_alive():  # a daemon: it dies with the process, but say so
                logger.warning("alias poller still busy after stop (a slow registry call)")

    def _poll_once(self) -> None:
        try:
            self.poller.refresh()
        except Exception:
            logger.exception("alias poll failed; keeping the last good models")
        self.polls += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self._poll_once()
