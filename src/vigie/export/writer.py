"""Writing an archive as a stream: each member hashed and counted as it is written, then the
manifest, signed. Nothing is held in memory but one chunk and a member's running hash."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from vigie.export import layout
from vigie.export.keys import b64, fingerprint, raw_public
from vigie.export.sealing import Sealer


class _Hashing:
    """Passes bytes to the archive member, keeping their SHA-256 and size."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.out.write(data)


class Member:
    """One member being written: raw bytes, or JSON records one a line (counted). Writes are
    gathered into blocks: a write into the zip costs as much as encoding a record."""

    BLOCK = 1 << 18

    def __init__(self, sink: _Hashing | Sealer) -> None:
        self._sink = sink
        self._block = bytearray()
        self.records = 0

    def write(self, data: bytes) -> None:
        self._block += data
        if len(self._block) >= self.BLOCK:
            self.flush()

    def text(self, data: str) -> None:
        self.write(data.encode())

    def record(self, value: Any) -> None:
        self.write(layout.dumps(value).encode() + b"\n")
        self.records += 1

    def flush(self) -> None:
        if self._block:
            self._sink.write(bytes(self._block))
            self._block.clear()


class ArchiveWriter:
    """A zip archive written member after member; `finish` adds the signed manifest."""

    def __init__(self, path: Path, at: datetime) -> None:
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._stamp = at.timetuple()[:6]
        self.entries: list[dict[str, Any]] = []

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    @contextmanager
    def member(self, name: str, media_type: str) -> Iterator[Member]:
        with self._zip.open(self._info(name), "w", force_zip64=True) as handle:
            hashing = _Hashing(handle)
            member = Member(hashing)
            yield member
            member.flush()
        self._add_entry(name, media_type, hashing, member)

    @contextmanager
    def sealed_member(self, name: str, recipient: X25519PublicKey) -> Iterator[Member]:
        """A member sealed to `recipient`: its hash is of the sealed bytes (checkable without the
        key), its count of the records inside."""
        with self._zip.open(self._info(name), "w", force_zip64=True) as handle:
            hashing = _Hashing(handle)
            sealer = Sealer(hashing, recipient)
            member = Member(sealer)
            yield member
            member.flush()
            sealer.close()
        self._add_entry(name, "application/octet-stream", hashing, member)

    def _add_entry(self, name: str, media_type: str, hashing: _Hashing, member: Member) -> None:
        entry: dict[str, Any] = {
            "name": name,
            "media_type": media_type,
            "bytes": hashing.size,
            "sha256": hashing.sha.hexdigest(),
        }
        if name in layout.LINE_MEMBERS:
            entry["records"] = member.records
        self.entries.append(entry)

    def finish(self, head: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
        """Write the manifest (`head` + centre key + members) and its Ed25519 signature."""
        public = key.public_key()
        manifest = {
            **head,
            "format": layout.FORMAT,
            "format_version": layout.FORMAT_VERSION,
            "centre": {"public_key": b64(raw_public(public)), "fingerprint": fingerprint(public)},
            "members": self.entries,
        }
        body = (layout.dumps(manifest) + "\n").encode()
        self._zip.writestr(self._info(layout.MANIFEST), body)
        self._zip.writestr(self._info(layout.SIGNATURE), b64(key.sign(body)) + "\n")
        self._zip.close()
        return manifest

    def abort(self) -> None:
        self._zip.close()
