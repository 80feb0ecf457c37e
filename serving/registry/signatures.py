"""Which model versions the worker may load: those signed by a key it trusts.

The ``tate.model_sha256`` tag proves nothing on its own: whoever can write the registry can
write a model *and* its digest. The trainer therefore signs each version with an Ed25519 private
key that never enters the registry, and the worker accepts a version only when its signature
verifies under one of the public keys named by the worker's own setting. A signature proves
provenance, not approval: the gate's verdict and the aliases still decide what trades.

The signed message is domain-separated and canonical, and binds everything the worker loads by:

    b"tate-model-v1\\n" + JSON({"digest", "key_id", "name", "run_id", "version"})

with the JSON compact (``,`` and ``:`` separators), keys sorted and non-ASCII escaped, so one
version has exactly one message. A signature copied onto another version (or another model
name, or a re-logged artifact) therefore does not verify. The key id is the first 16 hex
digits of the SHA-256 of the raw 32-byte public key.

This module only verifies: it never reads or creates a private key (``flows/signing.py`` does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MESSAGE_PREFIX = b"tate-model-v1\n"
SIGNATURE_TAG = "tate.signature"
KEY_ID_TAG = "tate.signing_key_id"
PUBLIC_KEY_SUFFIX = ".pub"
KEY_ID_HEX_DIGITS = 16


class SignatureError(ValueError):
    """A version whose signature is missing, malformed, wrong, untrusted or revoked."""


class TrustConfigError(ValueError):
    """A trusted-key path that cannot be read as an Ed25519 public key; names the path."""


def signed_message(name: str, version: str, digest: str, run_id: str, key_id: str) -> bytes:
    """The exact bytes signed for one registered version (see the module docstring)."""
    body = {"digest": digest, "key_id": key_id, "name": name, "run_id": run_id, "version": version}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return MESSAGE_PREFIX + canonical.encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw public key: short, stable, collision-safe."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX_DIGITS]


def encode_signature(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def read_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) file.

    Raises:
        TrustConfigError: unreadable, not PEM, or not Ed25519; the message names the file.
    """
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise TrustConfigError(
            f"trusted key {path}: not a readable PEM public key ({error})"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustConfigError(f"trusted key {path}: {type(key).__name__}, not Ed25519")
    return key


def public_key_files(locations: Iterable[Path]) -> list[Path]:
    """Each location is a ``.pub`` file, or a directory whose ``*.pub`` files are all trusted.

    A location that does not exist (yet) contributes nothing, so a worker may start before the
    first training on its home; a refusal then names it as missing (``KeyRing.describe``).
    """
    files: list[Path] = []
    for location in locations:
        if location.is_dir():
            files.extend(sorted(location.glob(f"*{PUBLIC_KEY_SUFFIX}")))
        elif location.exists():
            files.append(location)
    return files


@dataclass(frozen=True)
class KeyRing:
    """The worker's trust: public-key locations (files or directories) and revoked key ids.

    Keys are read when a version is verified, not once at start-up, so a key added for a
    rotation (or the first key, written by the first training on this home) is seen without a
    restart. Revocation wins over trust.
    """

    locations: Sequence[Path]
    revoked: frozenset[str] = frozenset()

    def keys(self) -> dict[str, Ed25519PublicKey]:
        """Trusted public keys by key id, revoked ones included (``verify`` names them)."""
        return {key_id(k): k for k in map(read_public_key, public_key_files(self.locations))}

    def describe(self) -> str:
        """The locations, each missing one marked, for a refusal's message."""
        named = [f"{p}{'' if p.exists() else ' (missing)'}" for p in self.locations]
        return ", ".join(named) or "no locations configured"


def verify_version(
    tags: Mapping[str, str],
    *,
    name: str,
    version: str,
    digest: str,
    run_id: str,
    ring: KeyRing,
) -> str:
    """Check a version's signature tags against what the worker itself is loading.

    ``name`` and ``version`` are what the worker asked the registry for, ``digest`` is computed
    from the downloaded files and ``run_id`` is the registry's own field of the version, so
    none of them is taken from a tag an attacker could write.

    Returns:
        The id of the trusted key that signed the version.

    Raises:
        SignatureError: missing, malformed, revoked, untrusted or not matching; says which.
    """
    encoded, signer = tags.get(SIGNATURE_TAG), tags.get(KEY_ID_TAG)
    if not encoded:
        raise SignatureError(f"unsigned: no {SIGNATURE_TAG} tag")
    if not signer:
        raise SignatureError(f"no {KEY_ID_TAG} tag names the key that signed it")
    if signer in ring.revoked:
        raise SignatureError(f"signed by revoked key {signer}")
    trusted = ring.keys()
    public_key = trusted.get(signer)
    if public_key is None:
        known = ", ".join(sorted(trusted)) or "none"
        raise SignatureError(
            f"signed by key {signer}, which is not trusted (trusted key ids: {known}; "
            f"from {ring.describe()})"
        )
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureError(f"{SIGNATURE_TAG} is not base64 ({error})") from None
    message = signed_message(name, version, digest, run_id, signer)
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        raise SignatureError(
            f"signature does not verify under key {signer} for this name, version, digest and "
            "run (forged, or copied from another version)"
        ) from None
    return signer
