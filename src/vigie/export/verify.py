"""Checking an archive before anyone trusts it: the manifest's signature, then every member's
size, SHA-256 and record count, that nothing was added or removed, and every member against
the format's schemas (`contents`: a signature proves who made it, not what it holds)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigie.export import layout
from vigie.export.contents import check, check_members
from vigie.export.invalid import ArchiveInvalid as ArchiveInvalid
from vigie.export.keys import fingerprint

READ = 1 << 16


@dataclass(frozen=True)
class Verified:
    manifest: dict[str, Any]
    fingerprint: str


def verify(path: Path, trusted: Ed25519PublicKey | None = None) -> Verified:
    """The manifest of a sound archive; ArchiveInvalid naming the first member at fault."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArchiveInvalid(str(path), f"not a readable zip archive ({exc})") from exc
    with archive:
        manifest, signer = _signed_manifest(archive, trusted)
        names = {info.filename for info in archive.infolist()}
        listed = {m["name"] for m in manifest["members"]}
        for extra in sorted(names - listed - {layout.MANIFEST, layout.SIGNATURE}):
            raise ArchiveInvalid(extra, "is not listed in the manifest")
        for missing in sorted(listed - names):
            raise ArchiveInvalid(missing, "listed in the manifest but missing")
        for entry in manifest["members"]:
            _check_member(archive, entry)
        check_members(archive)
    return Verified(manifest, fingerprint(signer))


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError as exc:
        raise ArchiveInvalid(name, "missing") from exc
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise ArchiveInvalid(name, f"damaged ({exc})") from exc


def _signed_manifest(
    archive: zipfile.ZipFile, trusted: Ed25519PublicKey | None
) -> tuple[dict[str, Any], Ed25519PublicKey]:
    body = _read_small(archive, layout.MANIFEST)
    signature_text = _read_small(archive, layout.SIGNATURE)
    try:
        manifest = json.loads(body)
        raw_key = base64.b64decode(manifest["centre"]["public_key"], validate=True)
        signer = Ed25519PublicKey.from_public_bytes(raw_key)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ArchiveInvalid(layout.MANIFEST, f"unreadable ({exc})") from exc
    except RecursionError:  # nested deeper than the parser's stack, before any signature
        raise ArchiveInvalid(layout.MANIFEST, "unreadable (nested too deeply)") from None
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ArchiveInvalid(layout.SIGNATURE, "not a base64 signature") from exc
    if trusted is not None and fingerprint(trusted) != fingerprint(signer):
        raise ArchiveInvalid(
            layout.MANIFEST,
            f"signed by centre key {fingerprint(signer)}, not the trusted {fingerprint(trusted)}",
        )
    try:
        signer.verify(signature, body)
    except InvalidSignature as exc:
        raise ArchiveInvalid(
            f"{layout.MANIFEST} / {layout.SIGNATURE}",
            "the signature does not match the manifest (one of them was altered)",
        ) from exc
    if manifest.get("format") != layout.FORMAT:
        raise ArchiveInvalid(layout.MANIFEST, f"format {manifest.get('format')!r} is not ours")
    if manifest.get("format_version") != layout.FORMAT_VERSION:
        raise ArchiveInvalid(
            layout.MANIFEST, f"format version {manifest.get('format_version')!r} is not supported"
        )
    check("manifest", manifest, layout.MANIFEST)  # before its member list is read
    return manifest, signer


def _check_member(archive: zipfile.ZipFile, entry: dict[str, Any]) -> None:
    name = entry["name"]
    sha = hashlib.sha256()
    size = lines = 0
    try:
        with archive.open(name) as handle:
            while chunk := handle.read(READ):
                sha.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise ArchiveInvalid(name, f"damaged ({exc})") from exc
    if size != entry["bytes"]:
        raise ArchiveInvalid(name, f"{size} bytes where the manifest says {entry['bytes']}")
    if sha.hexdigest() != entry["sha256"]:
        raise ArchiveInvalid(name, "its SHA-256 does not match the manifest")
    if "records" in entry and name != layout.PROTECTED and lines != entry["records"]:
        raise ArchiveInvalid(name, f"{lines} records where the manifest says {entry['records']}")
