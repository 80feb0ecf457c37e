"""AliasPoller follows registry aliases, reloads only on a version change, survives outages;
BackgroundPoller swaps models off the worker's thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from serving.registry.reader import RegistrySnapshot, RegistryUnreachableError, VersionRecord
from serving.registry.source import AliasPoller, BackgroundPoller, halt_reason


class FakeReader:
    """Aliases and tags a test moves by hand; ``down`` simulates an unreachable server."""

    def __init__(self, **aliases: str) -> None:
        self.aliases = dict(aliases)
        self.tags: dict[str, str] = {}
        self.down = False
        self.calls = 0

    def snapshot(self, name: str) -> RegistrySnapshot:
        self.calls += 1
        if self.down:
            raise RegistryUnreachableError("connection refused")
        return RegistrySnapshot(dict(self.aliases), dict(self.tags))

    def model_version(self, name: str, version: str) -> VersionRecord:
        return VersionRecord("run", {})


class RecordingLoader:
    def __init__(self) -> None:
        self.loaded: list[tuple[str, str]] = []
        self.fail_versions: set[str] = set()

    def __call__(self, name: str, version: str) -> Any:
        if version in self.fail_versions:
            raise OSError("artifact download failed")
        self.loaded.append((name, version))
        return f"model-{version}"


def test_missing_alias_means_the_role_is_absent() -> None:
    poller = AliasPoller("m", FakeReader(champion="3"), loader := RecordingLoader())
    poller.refresh()
    assert set(poller.current()) == {"champion"} and poller.registry_reachable
    assert loader.loaded == [("m", "3")]


def test_models_reload_only_when_the_alias_moves() -> None:
    reader = FakeReader(champion="3", canary="4")
    poller = AliasPoller("m", reader, loader := RecordingLoader())
    poller.refresh()
    poller.refresh()
    reader.aliases["champion"] = "4"
    del reader.aliases["canary"]
    poller.refresh()
    assert loader.loaded == [("m", "3"), ("m", "4"), ("m", "4")]
    assert {r: m.version for r, m in poller.current().items()} == {"champion": "4"}
    assert poller.current()["champion"].model == "model-4"


def test_registry_outage_keeps_the_last_good_models() -> None:
    reader = FakeReader(champion="3")
    poller = AliasPoller("m", reader, RecordingLoader())
    poller.refresh()
    reader.down = True
    poller.refresh()
    assert not poller.registry_reachable
    assert poller.current()["champion"].version == "3"
    reader.down = False
    poller.refresh()
    assert poller.registry_reachable


class FakeMonotonic:
    """Seconds a test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_version_that_fails_to_load_leaves_the_previous_one_serving_and_is_retried() -> None:
    reader = FakeReader(champion="3")
    clock = FakeMonotonic()
    poller = AliasPoller("m", reader, loader := RecordingLoader(), now=clock)
    poller.refresh()
    loader.fail_versions.add("5")
    reader.aliases["champion"] = "5"
    poller.refresh()
    assert poller.current()["champion"].version == "3"
    assert "champion" not in poller.unavailable  # the last good one still serves it
    loader.fail_versions.clear()  # e.g. the digest tag arrived after the alias
    clock.now += poller.retry_seconds
    poller.refresh()
    assert poller.current()["champion"].version == "5"


class CountingFailingLoader(RecordingLoader):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def __call__(self, name: str, version: str) -> Any:
        self.attempts += 1
        return super().__call__(name, version)


def test_a_refused_version_is_retried_with_back_off_not_on_every_refresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeMonotonic()
    loader = CountingFailingLoader()
    loader.fail_versions.add("2")
    poller = AliasPoller("m", FakeReader(champion="2"), loader, retry_seconds=5, now=clock)
    with caplog.at_level("ERROR"):
        for _ in range(50):  # a replay refreshing per bar
            poller.refresh()
        assert loader.attempts == 1
        clock.now = 5.0
        poller.refresh()
        assert loader.attempts == 2
        clock.now = 14.9  # the second failure doubled the wait to 10 s
        poller.refresh()
        assert loader.attempts == 2
        clock.now = 15.0
        poller.refresh()
    assert loader.attempts == 3
    assert poller.failures == {("champion", "2"): 3}
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1  # logged once
    assert not poller.current()
    assert "v2 failed to load" in poller.unavailable["champion"]
    assert "artifact download failed" in poller.unavailable["champion"]


def test_back_off_is_capped() -> None:
    clock = FakeMonotonic()
    loader = CountingFailingLoader()
    loader.fail_versions.add("2")
    poller = AliasPoller(
        "m", FakeReader(champion="2"), loader, retry_seconds=5, max_retry_seconds=20, now=clock
    )
    for _ in range(8):
        poller.refresh()
        clock.now += 20.0
    assert loader.attempts == 8


def test_unavailable_names_each_missing_alias() -> None:
    poller = AliasPoller("m", FakeReader(), RecordingLoader())
    poller.refresh()
    assert dict(poller.unavailable) == {
        "champion": "model 'm' has no alias 'champion'",
        "canary": "model 'm' has no alias 'canary'",
    }


def test_published_models_are_never_edited_in_place() -> None:
    reader = FakeReader(champion="3")
    poller = AliasPoller("m", reader, RecordingLoader())
    poller.refresh()
    held = poller.current()
    reader.aliases["champion"] = "4"
    poller.refresh()
    assert held["champion"].version == "3" and poller.current()["champion"].version == "4"
    with pytest.raises(TypeError):
        held["canary"] = held["champion"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("tags", "halted"),
    [
        ({}, False),
        ({"halted": "false"}, False),
        ({"halted": "0"}, False),
        ({"halted": "true"}, True),
        ({"halted": "true", "halted_reason": "PSI 0.4 on vol_24"}, True),
        ({"halted": "drift on EURUSD"}, True),
    ],
)
def test_halted_tag_is_read_with_its_reason(tags: dict[str, str], halted: bool) -> None:
    reason = halt_reason(tags)
    assert (reason is not None) is halted
    if "halted_reason" in tags:
        assert reason is not None and tags["halted_reason"] in reason


def test_poller_exposes_the_halted_tag_and_clears_it() -> None:
    reader = FakeReader(champion="1")
    poller = AliasPoller("m", reader, RecordingLoader())
    reader.tags = {"halted": "true", "halted_reason": "set in the MLflow UI"}
    poller.refresh()
    assert poller.halted is not None and "MLflow UI" in poller.halted
    reader.tags = {}
    poller.refresh()
    assert poller.halted is None


class BlockingLoader(RecordingLoader):
    """Holds a load until the test releases it: a slow download on the poller thread."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, name: str, version: str) -> Any:
        if version == "2":
            self.started.set()
            assert self.release.wait(10)
        return super().__call__(name, version)


def test_background_poller_loads_off_thread_and_publishes_whole() -> None:
    reader = FakeReader(champion="1")
    loader = BlockingLoader()
    source = BackgroundPoller(AliasPoller("m", reader, loader), interval_seconds=0.01).start()
    try:
        assert source.current()["champion"].version == "1"  # first load before start returns
        reader.aliases["champion"] = "2"
        assert loader.started.wait(10)
        source.refresh()  # the worker's call never blocks on the slow load
        assert source.current()["champion"].version == "1"
        loader.release.set()
        for _ in range(1000):
            if source.current()["champion"].version == "2":
                break
            threading.Event().wait(0.01)
        assert source.current()["champion"].version == "2"
    finally:
        loader.release.set()
        source.stop()
