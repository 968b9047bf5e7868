"""The protected person's member, sealed to a recipient: X25519 key agreement with a one-time key,
HKDF-SHA256, then ChaCha20-Poly1305 over 64 KiB chunks, so it is written and read streamed.

Layout: MAGIC, the one-time public key (32 bytes), then chunks, each a 4-byte big-endian length
and the ciphertext; a chunk's nonce is its number (11 bytes) and a last-chunk flag (1 byte), so
a chunk moved, dropped or a truncated end fails to open.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigie.export.keys import raw_public

MAGIC = b"VIGIE-SEALED-1\n"
SCHEME = "x25519-hkdf-sha256-chacha20poly1305-chunked-64k/1"
CHUNK = 64 * 1024
_INFO = b"vigie export: protected person's data"


class SealError(ValueError):
    """The sealed member cannot be opened with this key, or was altered."""


def _key(shared: bytes, one_time: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=one_time + recipient, info=_INFO).derive(shared)


def _nonce(number: int, last: bool) -> bytes:
    return number.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Sealer:
    """A writable stream that seals what is written to it onto `out` (call `close` at the end)."""

    def __init__(self, out: Sink, recipient: X25519PublicKey) -> None:
        one_time = X25519PrivateKey.generate()
        one_time_raw = raw_public(one_time.public_key())
        key = _key(one_time.exchange(recipient), one_time_raw, raw_public(recipient))
        self._aead = ChaCha20Poly1305(key)
        self._out = out
        self._buffer = bytearray()
        self._number = 0
        out.write(MAGIC + one_time_raw)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]

    def close(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, chunk: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._number, last), chunk, None)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._number += 1


def unseal(source: BinaryIO, key: X25519PrivateKey) -> Iterator[bytes]:
    """The plaintext of a sealed stream, chunk by chunk; SealError if anything does not hold."""
    head = source.read(len(MAGIC) + 32)
    if len(head) != len(MAGIC) + 32 or not head.startswith(MAGIC):
        raise SealError("not a sealed member (bad header)")
    one_time_raw = head[len(MAGIC) :]
    one_time = X25519PublicKey.from_public_bytes(one_time_raw)
    aead = ChaCha20Poly1305(
        _key(key.exchange(one_time), one_time_raw, raw_public(key.public_key()))
    )
    number = 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) != 4:
            raise SealError("truncated: the last chunk is missing")
        (size,) = struct.unpack(">I", size_bytes)
        if size > CHUNK + 16:
            raise SealError(f"chunk {number} is oversized")
        sealed = source.read(size)
        plain = _open(aead, number, sealed)
        if plain is None:
            raise SealError(f"chunk {number} does not open: wrong key or altered data")
        chunk, was_last = plain
        yield chunk
        if was_last:
            if source.read(1):
                raise SealError("data after the last chunk")
            return
        number += 1


def _open(aead: ChaCha20Poly1305, number: int, sealed: bytes) -> tuple[bytes, bool] | None:
    for last in (False, True):
        try:
            return aead.decrypt(_nonce(number, last), sealed, None), last
        except InvalidTag:
            continue
    return None
