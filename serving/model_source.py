"""Where the worker's models come from: registry aliases, resolved off the hot path.

The MLflow registry is the control plane: aliases ``champion`` and ``canary`` say what
trades, and a registered-model tag ``halted`` (set by a flow or by a person in the MLflow UI)
stops new positions. ``AliasPoller`` reads both in one short call, loads a version only when
its alias moves to it (verified and warmed by ``serving.model_loading``), and keeps the last
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
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from serving.model_loading import load_verified_model
from serving.registry_reader import RegistryReader, RegistryUnreachableError, registry_reader

logger = logging.getLogger(__name__)

HALTED_TAG = "halted"
HALTED_REASON_TAG = "halted_reason"
_NOT_HALTED = {"", "false", "0", "no"}


class LoadedModel(NamedTuple):
    name: str
    version: str
    role: str
    model: Any  # the unwrapped python model: has ``window`` and ``decide(window)``


class ModelSource(Protocol):
    """What the worker needs from a model source."""

    registry_reachable: bool
    halted: str | None

    def current(self) -> Mapping[str, LoadedModel]: ...

    def refresh(self) -> None: ...


def halt_reason(tags: Mapping[str, str]) -> str | None:
    """Why the registered model is halted, or None: ``halted`` is any value but false/0/no."""
    value = tags.get(HALTED_TAG)
    if value is None or value.strip().lower() in _NOT_HALTED:
        return None
    reason = tags.get(HALTED_REASON_TAG) or value
    return f"registered model tagged halted: {reason}"


class AliasPoller:
    """Resolves registry aliases to loaded models, keeping the last good ones.

    Args:
        model_name: registered model name.
        reader: registry reader (short time limits; see ``serving.registry_reader``).
        loader: ``(name, version) -> python model``; raises to refuse a version.
        aliases: roles to look up; each alias name is the role name.
    """

    def __init__(
        self,
        model_name: str,
        reader: RegistryReader,
        loader: Callable[[str, str], Any],
        aliases: tuple[str, ...] = ("champion", "canary"),
    ) -> None:
        self.model_name, self.aliases = model_name, aliases
        self._reader, self._loader = reader, loader
        self._models: Mapping[str, LoadedModel] = MappingProxyType({})
        self._refused: set[str] = set()
        self.registry_reachable = False
        self.halted: str | None = None

    @classmethod
    def for_registry(
        cls,
        model_name: str,
        tracking_uri: str | None,
        *,
        aliases: tuple[str, ...] = ("champion", "canary"),
        cache_dir: Path | None = None,
        timeout_seconds: float = 2.0,
        retries: int = 1,
    ) -> AliasPoller:
        """A poller on a real registry, loading verified models into ``cache_dir``."""
        reader = registry_reader(tracking_uri, timeout_seconds=timeout_seconds, retries=retries)
        cache = cache_dir or Path(tempfile.mkdtemp(prefix="tate-models-"))

        def load(name: str, version: str) -> Any:
            return load_verified_model(
                name, version, reader=reader, tracking_uri=tracking_uri, cache_dir=cache
            )

        return cls(model_name, reader, load, aliases)

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
        for role in set(models) - {a for a in self.aliases if a in snapshot.aliases}:
            logger.info("alias %s removed; role %s stops", role, role)
            del models[role]
        for role in self.aliases:
            version = snapshot.aliases.get(role)
            loaded = models.get(role)
            if version is None or (loaded is not None and loaded.version == version):
                continue
            model = self._load(version, role)
            if model is not None:
                logger.info("%s now serves %s v%s", role, self.model_name, version)
                models[role] = LoadedModel(self.model_name, version, role, model)
        self._models = MappingProxyType(models)

    def _load(self, version: str, role: str) -> Any | None:
        """The loaded model, or None (logged once per version) when it fails or is refused."""
        try:
            return self._loader(self.model_name, version)
        except Exception as error:
            if version not in self._refused:
                self._refused.add(version)
                logger.error(
                    "loading %s v%s for %s failed; keeping the last good: %s",
                    self.model_name,
                    version,
                    role,
                    error,
                )
            return None


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

    def _poll_once(self) -> None:
        try:
            self.poller.refresh()
        except Exception:
            logger.exception("alias poll failed; keeping the last good models")
        self.polls += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self._poll_once()
