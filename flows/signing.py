"""The trainer's signing key: kept outside the registry, made on first use, never read by the worker.

Each registered version is signed (``flows.tracking.sign_model_version``) over the message that
``serving.registry.signatures`` defines and verifies. The private key is a PEM (PKCS8) Ed25519
key at ``TATE_SIGNING_KEY`` — e.g. a file a desk's secret store mounts, which must already
exist (``openssl genpkey -algorithm ed25519 -out PATH`` makes one) — or, by default, at
``$TATE_HOME/keys/signing.key``, created here on first use with mode 0600 in a 0700 folder.

The matching public key is published as ``$TATE_HOME/keys/<key id>.pub``, where a worker on the
same home finds it by default. Rotation: move ``signing.key`` away; the next training makes a new
key and publishes its ``.pub`` beside the old one, so versions signed by either still load until
the old key id is listed in ``TATE_REVOKED_KEYS``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flows.errors import BadSettingError
from flows.settings import TateSettings
from serving.registry.signatures import PUBLIC_KEY_SUFFIX, encode_signature, key_id, signed_message

logger = logging.getLogger(__name__)

PRIVATE_MODE = 0o600
KEYS_DIR_MODE = 0o700


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` from the first byte; never replace a file.

    Written to a private temporary name and then hard-linked into place, so a second trainer
    starting at the same moment either links first or finds a complete file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        pass  # another trainer made it first: theirs is the key
    finally:
        tmp.unlink(missing_ok=True)


def create_signing_key(path: Path) -> None:
    """A new Ed25519 key at ``path`` (mode 0600), its folder made with mode 0700."""
    path.parent.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
    # mkdir's mode is cut by the umask, and not applied at all to a folder that existed
    os.chmod(path.parent, KEYS_DIR_MODE)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(path, pem, PRIVATE_MODE)
    logger.info("created the model signing key %s", path)


def read_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key at ``path``.

    Raises:
        BadSettingError: missing, unreadable or not an unencrypted Ed25519 PEM key.
    """
    try:
        data = path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as error:
        raise BadSettingError(
            f"TATE_SIGNING_KEY={path}: not a readable, unencrypted PEM private key ({error}); "
            "make one with `openssl genpkey -algorithm ed25519 -out PATH`, or unset it to use "
            "$TATE_HOME/keys/signing.key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadSettingError(f"TATE_SIGNING_KEY={path}: {type(key).__name__}, not Ed25519")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        logger.warning("signing key %s is readable by others than its owner (chmod 600)", path)
    return key


def publish_public_key(key: Ed25519PrivateKey, keys_dir: Path) -> Path:
    """Write ``<keys_dir>/<key id>.pub`` (PEM) unless it is there; return its path."""
    public = key.public_key()
    path = keys_dir / f"{key_id(public)}{PUBLIC_KEY_SUFFIX}"
    if not path.exists():
        keys_dir.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_new(path, pem, 0o644)
        logger.info("published the model signing public key %s", path)
    return path


def signing_key(settings: TateSettings) -> Ed25519PrivateKey:
    """The trainer's key: ``TATE_SIGNING_KEY``, or the home's own key (made on first use).

    Its public key is published under ``$TATE_HOME/keys`` either way, so a worker on this home
    trusts it by default.
    """
    path = settings.signing_key_path
    if settings.signing_key is None and not path.exists():
        create_signing_key(path)
    key = read_signing_key(path)
    publish_public_key(key, settings.keys_dir)
    return key


def sign_version(
    key: Ed25519PrivateKey, *, name: str, version: str, digest: str, run_id: str
) -> tuple[str, str]:
    """``(key id, base64 signature)`` over the canonical message of one registered version."""
    signer = key_id(key.public_key())
    message = signed_message(name, version, digest, run_id, signer)
    return signer, encode_signature(key.sign(message))
