"""The centre's export signing key (Ed25519) and the recipients' keys for the protected person's
data (X25519): PEM files, made by `vigie export keygen`."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

# The signing key's file: a setting of its own, so the key lives apart from database and code.
KEY_VARIABLE = "VIGIE_EXPORT_KEY"
DEFAULT_KEY_PATH = Path("var/vigie-export.key")


class KeyFileError(ValueError):
    """A key file is missing, unreadable or of the wrong kind; the message says which and why."""


def signing_key_path() -> Path:
    return Path(os.environ.get(KEY_VARIABLE) or DEFAULT_KEY_PATH)


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey | X25519PublicKey) -> str:
    """A short, stable name for a public key: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:32]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: a private key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _public_pem(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate(path: Path, kind: str) -> Path:
    """Write a new private key (`signing`: Ed25519, `recipient`: X25519) at `path` (0600) and its
    public key beside it (`path`.pub); refuses to overwrite. Returns the public key's path."""
    if kind not in ("signing", "recipient"):
        raise KeyFileError(f"key kind {kind!r}: expected 'signing' or 'recipient'")
    private: Ed25519PrivateKey | X25519PrivateKey = (
        Ed25519PrivateKey.generate() if kind == "signing" else X25519PrivateKey.generate()
    )
    public_path = path.with_name(path.name + ".pub")
    for existing in (path, public_path):
        if existing.exists():
            raise KeyFileError(f"{existing}: already exists (a key is never overwritten)")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, pem)
    public_path.write_bytes(_public_pem(private.public_key()))
    return public_path


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "export signing key"), None)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key (make one with `vigie export keygen`)")
    return key


def load_verify_key(path: Path) -> Ed25519PublicKey:
    """A centre's public key, from its .pub file or from its private key file."""
    data = _read(path, "centre's public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        return load_signing_key(path).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def load_recipient(path: Path) -> X25519PublicKey:
    """The recipient of the protected person's data: an X25519 public key (PEM)."""
    try:
        key = serialization.load_pem_public_key(_read(path, "recipient key"))
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM public key") from exc
    if not isinstance(key, X25519PublicKey):
        raise KeyFileError(
            f"{path}: not an X25519 public key (make one with `vigie export keygen --recipient`)"
        )
    return key


def load_recipient_private(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "recipient's private key"), None)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path}: not an X25519 private key")
    return key
