"""The canary's risk fraction follows its version's ``tate.canary_fraction`` tag (what the
gate widens), read at every alias poll, clamped to (0, 1]; without it, the configured one."""

from __future__ import annotations

import pytest

from serving.registry.reader import RegistrySnapshot, VersionRecord
from serving.registry.source import CANARY_FRACTION_TAG, AliasPoller, risk_fraction


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.25", 0.25), ("1", 1.0), ("3.5", 1.0), ("0", None), ("-0.1", None), ("lots", None),
     ("nan", None)],
)  # fmt: skip
def test_the_tag_is_clamped_to_the_open_unit_interval(value: str, expected: float | None) -> None:
    assert risk_fraction({CANARY_FRACTION_TAG: value}) == expected


def test_no_tag_leaves_the_configured_fraction() -> None:
    assert risk_fraction({}) is None


class TaggedReader:
    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {"4": {}}

    def snapshot(self, name: str) -> RegistrySnapshot:
        return RegistrySnapshot({"champion": "3", "canary": "4"}, {})

    def model_version(self, name: str, version: str) -> VersionRecord:
        return VersionRecord("run", self.tags[version])


def test_the_poller_reads_the_canarys_fraction_at_every_poll_without_reloading() -> None:
    reader, loads = TaggedReader(), []
    poller = AliasPoller("m", reader, lambda _n, v: loads.append(v) or f"model-{v}")
    poller.refresh()
    assert poller.current()["canary"].risk_fraction is None
    reader.tags["4"][CANARY_FRACTION_TAG] = "0.1"
    poller.refresh()
    canary = poller.current()["canary"]
    assert canary.risk_fraction == 0.1 and canary.model == "model-4"
    assert poller.current()["champion"].risk_fraction is None
    assert loads == ["3", "4"]  # widening is not a reload
