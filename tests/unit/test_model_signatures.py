"""Registry write is not code execution: a worker loads only versions signed, for that very name
and version, by a key its own setting trusts and has not revoked; the trainer's private key
lives outside the registry (real MLflow registry on SQLite, real worker on a SimTerminal)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from pydantic import ValidationError

from flows.errors import BadSettingError
from flows.settings import TateSettings
from flows.signing import sign_version, signing_key
from flows.tracking import record_model_digest
from models.packaging import DIGEST_TAG
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.registry.loading import UnsafeModelError, load_verified_model
from serving.registry.reader import ClientRegistryReader
from serving.registry.signatures import (
    KEY_ID_TAG,
    SIGNATURE_TAG,
    KeyRing,
    SignatureError,
    key_id,
    verify_version,
)
from serving.registry.source import AliasPoller
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.signed_models import (
    MODEL,
    MODEL_CODE,
    code_model,
    new_key,
    register,
    sign,
    sqlite_registry,
)

SYMBOLS = ("EURUSD", "USDJPY")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, MlflowClient]]:
    with sqlite_registry(tmp_path) as found:
        yield found


def _load(uri: str, version: str, tmp_path: Path, ring: KeyRing) -> Any:
    return load_verified_model(
        MODEL, version, reader=ClientRegistryReader(uri), tracking_uri=uri,
        cache_dir=tmp_path / "cache", ring=ring,
    )  # fmt: skip


def _worker(uri: str, tmp_path: Path, ring: KeyRing) -> tuple[Worker, Journal, AliasPoller]:
    """A worker on a SimTerminal whose models come from the registry, polled before each bar."""
    term = SimTerminal(make_replay_bars(SYMBOLS, n=60))
    term.initialize()
    poller = AliasPoller.for_registry(MODEL, uri, ring=ring, cache_dir=tmp_path / "cache")
    journal = Journal("sqlite://")
    worker = Worker(
        term, Mt5Broker(term, magic=9100), journal, poller, WorkerMetrics(), ReplayClock(term),
        SYMBOLS, "H1",
    )  # fmt: skip
    return worker, journal, poller


def _forge(client: MlflowClient, version: str, attack: str, tmp_path: Path, trusted: str) -> None:
    """What a registry writer without the trainer's key can add to a self-digested version."""
    if attack == "unsigned":
        return
    attacker = new_key(tmp_path / "attacker")
    sign(client, version, attacker)
    if attack == "trusted key id on own signature":
        client.set_model_version_tag(MODEL, version, KEY_ID_TAG, trusted)


@pytest.mark.parametrize(
    ("attack", "refusal"),
    [
        ("unsigned", "unsigned: no tate.signature tag"),
        ("own key", "which is not trusted"),
        ("trusted key id on own signature", "does not verify under key"),
    ],
)
def test_a_tampered_self_digested_code_model_is_refused_and_the_last_good_keeps_trading(
    registry: tuple[str, MlflowClient],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    attack: str,
    refusal: str,
) -> None:
    uri, client = registry
    trusted = new_key(tmp_path / "keys")
    good = register(code_model(tmp_path / "good"))
    sign(client, good, trusted)
    client.set_registered_model_alias(MODEL, "champion", good)
    worker, journal, poller = _worker(uri, tmp_path, KeyRing([tmp_path / "keys"]))
    worker.run(max_bars=5)
    before = len(journal.read_decisions())
    assert before > 0

    ran = tmp_path / "attacker-code-ran"  # the one extra line of the reproduction
    bad = register(code_model(tmp_path / "evil", MODEL_CODE + f"open({str(ran)!r}, 'w')\n"))
    assert ran.exists()  # logging a code model runs it: the extra line is live code …
    ran.unlink()  # … and the worker must never run it again
    record_model_digest(client, MODEL, bad)  # a digest tag that matches the tampered files
    _forge(client, bad, attack, tmp_path, key_id(trusted.public_key()))
    client.set_registered_model_alias(MODEL, "champion", bad)
    with caplog.at_level("ERROR", logger="serving.registry.source"):
        worker.run(max_bars=5)

    decisions = journal.read_decisions()
    assert len(decisions) > before  # trading went on …
    assert set(decisions["model_version"]) == {good}  # … on the last good version only
    assert not ran.exists(), "the tampered version's code ran in the worker"
    assert poller.current()["champion"].version == good
    said = [
        r.getMessage() for r in caplog.records if f"v{bad} for champion failed" in r.getMessage()
    ]
    assert len(said) == 1 and refusal in said[0], said
    labels = {"role": "champion", "version": bad}
    assert worker.metrics.registry.get_sample_value("model_load_failures_total", labels) >= 1


def test_a_valid_signature_copied_onto_another_version_is_refused(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    ring = KeyRing([tmp_path / "keys"])
    first = register(code_model(tmp_path / "code"))
    sign(client, first, new_key(tmp_path / "keys"))
    signed = client.get_model_version(MODEL, first)
    # the very same files and run under a new version number: only the version differs
    copy = str(client.create_model_version(MODEL, signed.source, run_id=signed.run_id).version)
    record_model_digest(client, MODEL, copy)
    for tag in (SIGNATURE_TAG, KEY_ID_TAG):
        client.set_model_version_tag(MODEL, copy, tag, signed.tags[tag])
    assert client.get_model_version(MODEL, copy).tags[DIGEST_TAG] == signed.tags[DIGEST_TAG]

    assert _load(uri, first, tmp_path, ring).window == 3
    with pytest.raises(UnsafeModelError, match=f"version {copy} refused: signature does not"):
        _load(uri, copy, tmp_path, ring)


@pytest.mark.parametrize(
    "changed", ["name", "version", "digest", "run_id"], ids=lambda field: f"other {field}"
)
def test_a_signature_verifies_only_for_the_name_version_digest_and_run_it_was_made_for(
    tmp_path: Path, changed: str
) -> None:
    key = new_key(tmp_path / "keys")
    signed = {"name": "m", "version": "4", "digest": "ab" * 32, "run_id": "r1"}
    signer, signature = sign_version(key, **signed)
    tags = {SIGNATURE_TAG: signature, KEY_ID_TAG: signer}
    ring = KeyRing([tmp_path / "keys"])
    assert verify_version(tags, **signed, ring=ring) == signer
    with pytest.raises(SignatureError, match="does not verify"):
        verify_version(tags, **{**signed, changed: signed[changed] + "0"}, ring=ring)


def _two_keys(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> tuple[TateSettings, tuple[str, str], tuple[str, str]]:
    """The documented rotation on one home: v1 by the first key, which is then moved away;
    training makes a second key and signs v2. Returns settings, (old id, v1), (new id, v2)."""
    _, client = registry
    settings = TateSettings(home=tmp_path / "home")
    old = signing_key(settings)
    first = register(code_model(tmp_path / "code"))
    sign(client, first, old)
    settings.signing_key_path.rename(tmp_path / "retired.key")
    new = signing_key(settings)
    second = register(code_model(tmp_path / "code"))
    sign(client, second, new)
    return settings, (key_id(old.public_key()), first), (key_id(new.public_key()), second)


def test_after_a_key_rotation_versions_signed_by_either_trusted_key_load(
    registry: tuple[str, MlflowClient], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri, client = registry
    settings, (old, first), (new, second) = _two_keys(registry, tmp_path)
    assert old != new
    published = sorted(p.name for p in settings.keys_dir.glob("*.pub"))
    assert published == sorted([f"{old}.pub", f"{new}.pub"])
    ring = KeyRing(settings.trusted_key_locations)
    client.set_registered_model_alias(MODEL, "champion", first)
    with caplog.at_level("INFO", logger="serving.registry.source"):
        poller = AliasPoller.for_registry(MODEL, uri, ring=ring, cache_dir=tmp_path / "cache")
    (said,) = [r.getMessage() for r in caplog.records if "trusted key ids" in r.getMessage()]
    assert old in said and new in said  # the operator sees what the worker trusts
    poller.refresh()
    assert poller.current()["champion"].version == first
    client.set_registered_model_alias(MODEL, "champion", second)
    poller.refresh()
    assert poller.current()["champion"].version == second
    assert not poller.failures


def test_a_revoked_key_id_is_refused_while_the_new_key_still_loads(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, _ = registry
    settings, (old, first), (_, second) = _two_keys(registry, tmp_path)
    ring = KeyRing(settings.trusted_key_locations, frozenset({old}))
    with pytest.raises(
        UnsafeModelError, match=f"version {first} refused: signed by revoked key {old}"
    ):
        _load(uri, first, tmp_path, ring)
    assert _load(uri, second, tmp_path, ring).window == 3


def test_the_worker_trusts_only_the_keys_its_setting_names_and_creates_none(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, _ = registry
    settings, (old, first), (new, second) = _two_keys(registry, tmp_path)
    only_new = KeyRing([settings.keys_dir / f"{new}.pub"])
    with pytest.raises(UnsafeModelError, match=f"signed by key {old}, which is not trusted"):
        _load(uri, first, tmp_path, only_new)
    assert _load(uri, second, tmp_path, only_new).window == 3

    elsewhere = TateSettings(home=tmp_path / "worker-home")  # trains nothing, holds no key
    ring = KeyRing(elsewhere.trusted_key_locations)
    with pytest.raises(UnsafeModelError, match=r"not trusted \(trusted key ids: none; .*missing"):
        _load(uri, second, tmp_path, ring)
    assert not elsewhere.keys_dir.exists()


def test_the_trainer_makes_its_private_key_once_readable_only_by_its_owner(
    tmp_path: Path,
) -> None:
    settings = TateSettings(home=tmp_path / "home")
    key = signing_key(settings)
    assert stat.S_IMODE(settings.signing_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.keys_dir.stat().st_mode) == 0o700
    assert (settings.keys_dir / f"{key_id(key.public_key())}.pub").is_file()
    again = signing_key(settings)
    assert key_id(again.public_key()) == key_id(key.public_key())  # found, not made anew


def test_a_signing_key_path_that_does_not_exist_is_refused_and_not_created(
    tmp_path: Path,
) -> None:
    vault = tmp_path / "vault" / "tate.pem"
    with pytest.raises(ValidationError, match=f"no key file at {vault}"):
        TateSettings(home=tmp_path / "home", signing_key=vault)
    assert not vault.parent.exists() and not (tmp_path / "home").exists()


def test_a_signing_key_file_that_is_not_a_key_is_refused_and_left_alone(tmp_path: Path) -> None:
    vault = tmp_path / "vault" / "tate.pem"
    vault.parent.mkdir()
    vault.write_text("not a key")
    settings = TateSettings(home=tmp_path / "home", signing_key=vault)
    with pytest.raises(BadSettingError, match=f"TATE_SIGNING_KEY={vault}: not a readable"):
        signing_key(settings)
    assert vault.read_text() == "not a key" and not settings.keys_dir.exists()


def test_key_settings_read_comma_lists_and_refuse_a_bad_key_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.pub").write_text("")
    (tmp_path / "desk-keys").mkdir()
    monkeypatch.setenv("TATE_TRUSTED_KEYS", f"{tmp_path}/a.pub, {tmp_path}/desk-keys")
    monkeypatch.setenv("TATE_REVOKED_KEYS", '["0123456789abcdef"]')
    settings = TateSettings()
    assert settings.trusted_key_locations == (tmp_path / "a.pub", tmp_path / "desk-keys")
    assert settings.revoked_keys == ("0123456789abcdef",)
    monkeypatch.setenv("TATE_REVOKED_KEYS", "0123,not-a-key")
    with pytest.raises(ValidationError, match="'0123' is not a key id"):
        TateSettings()
    monkeypatch.delenv("TATE_REVOKED_KEYS")
    monkeypatch.setenv("TATE_TRUSTED_KEYS", f"{tmp_path}/a.pub,{tmp_path}/gone.pub")
    with pytest.raises(ValidationError, match=f"no public key file or folder at {tmp_path}/gone"):
        TateSettings()


def test_an_unreadable_trusted_key_file_is_named_in_the_refusal(
    registry: tuple[str, MlflowClient], tmp_path: Path
) -> None:
    uri, client = registry
    version = register(code_model(tmp_path / "code"))
    sign(client, version, new_key(tmp_path / "keys"))
    (tmp_path / "keys" / "broken.pub").write_text("not a key")
    with pytest.raises(UnsafeModelError, match=r"broken\.pub: not a readable PEM public key"):
        _load(uri, version, tmp_path, KeyRing([tmp_path / "keys"]))
