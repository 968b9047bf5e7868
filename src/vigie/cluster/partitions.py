"""Where a case's readings go: P fixed partitions by case, and the stream subject of a message.

Pure. The hash is part of the stored data's meaning (a case's partition is in the stream's
subjects and in `engine_state`), so it must never change: tests pin golden values. Everything of
a case (the wearer's bracelet, the home unit, the protected person's phone) is in one partition
by construction, so a BAR pair is always detected by one engine.
"""

from __future__ import annotations

import hashlib
import re

SUBJECT_PREFIX = "vigie.obs"
# Partitions are zero-padded to this many digits in subjects, so they sort and filter alike.
PARTITION_DIGITS = 4
MAX_PARTITIONS = 10**PARTITION_DIGITS
_PLAIN_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _checked(n: int) -> int:
    if not 1 <= n <= MAX_PARTITIONS:
        raise ValueError(f"partitions: {n} is not in [1, {MAX_PARTITIONS}]")
    return n


def partition_of(case_ref: str, n: int) -> int:
    """The partition of a case: blake2b-64 of its reference, modulo the partition count."""
    return _hash64(case_ref) % _checked(n)


def unassigned_partition(device: str, n: int) -> int:
    """The partition of a registered device with no case: archived there, nothing to detect."""
    return _hash64(device) % _checked(n)


def device_token(device: str) -> str:
    """The device as one subject token: itself when it is a safe token, else `x` and a hash
    (OsmAnd ids are arbitrary strings; dots, spaces or wildcards would break the subject)."""
    if _PLAIN_DEVICE.fullmatch(device):
        return device
    return "x" + hashlib.blake2b(device.encode(), digest_size=8).hexdigest()


def partition_token(partition: int) -> str:
    return f"{partition:0{PARTITION_DIGITS}d}"


def subject_for(partition: int, device: str) -> str:
    """`vigie.obs.<pppp>.<device token>`: a worker filters `vigie.obs.<pppp>.>`."""
    if not 0 <= partition < MAX_PARTITIONS:
        raise ValueError(f"partition {partition} is not in [0, {MAX_PARTITIONS})")
    return f"{SUBJECT_PREFIX}.{partition_token(partition)}.{device_token(device)}"


def partition_filter(partition: int) -> str:
    """The subject filter of one partition's messages."""
    return f"{SUBJECT_PREFIX}.{partition_token(partition)}.>"
