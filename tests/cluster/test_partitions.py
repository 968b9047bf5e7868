"""Partitioning by case: the hash never changes, spreads cases evenly, keeps a case together."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.cluster.partitions import (
    device_token,
    partition_filter,
    partition_of,
    subject_for,
    unassigned_partition,
)

# Stored data depends on these (stream subjects, engine_state rows): they must never change.
GOLDEN = {
    "C-2026-0001": (27, 643),
    "C-2026-0002": (48, 144),
    "BAR-1": (40, 864),
    "bar-7": (2, 34),
    "x": (15, 383),
    "case/with spaces": (29, 501),
    "Émile-123": (24, 96),
    "C-0": (35, 283),
    "C-9999": (8, 128),
    "00000000-0000-0000-0000-000000000000": (10, 970),
}


@pytest.mark.parametrize(("case_ref", "expected"), GOLDEN.items())
def test_golden_values(case_ref: str, expected: tuple[int, int]) -> None:
    assert (partition_of(case_ref, 64), partition_of(case_ref, 1000)) == expected


def test_unassigned_device_and_tokens_golden() -> None:
    assert unassigned_partition("356307042441013", 64) == 9
    assert device_token("356307042441013") == "356307042441013"
    # Not a safe subject token (dots, spaces, wildcards): hashed, and stable.
    assert device_token("a.b c*") == "x05655b18487d57a3"
    assert subject_for(7, "a.b") == "vigie.obs.0007.x4eb68d4d2828008e"
    assert partition_filter(7) == "vigie.obs.0007.>"


@given(st.text(min_size=1, max_size=200))
def test_every_device_id_is_one_safe_token(device: str) -> None:
    token = device_token(device)
    assert 1 <= len(token) <= 64
    assert not set(token) & set(". *>\t\r\n")
    subject = subject_for(3, device)
    assert subject.split(".")[:3] == ["vigie", "obs", "0003"] and len(subject.split(".")) == 4


@settings(max_examples=5, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.sampled_from(["C-", "case-", "2026/"]))
def test_uniform_enough(salt: int, prefix: str) -> None:
    """10,000 case references over 64 partitions: the fullest holds at most six standard
    deviations over the mean (1.47 × the mean).

    A fair hash's fullest partition passes that but about once in ten million draws; the
    bound of 1.3 × the mean it had (3.8 deviations) failed a fair draw about once in 200
    (salt 471, "C-": 204 references, the bound 203.1, in a CI run). A skewed hash, or one that
    leaves partitions empty, still fails it."""
    counts = Counter(partition_of(f"{prefix}{salt}-{i}", 64) for i in range(10_000))
    assert len(counts) == 64
    mean, deviation = 10_000 / 64, math.sqrt(10_000 * (1 / 64) * (63 / 64))
    assert max(counts.values()) <= mean + 6 * deviation


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=4096))
def test_in_range(case_ref: str, n: int) -> None:
    assert 0 <= partition_of(case_ref, n) < n
    assert 0 <= unassigned_partition(case_ref, n) < n


def test_bar_pair_shares_a_partition() -> None:
    """A BAR case's wearer bracelet and the protected person's phone route by the case, so one
    engine sees both, whatever their device ids hash to."""
    wearer, phone = "356307042441013", "traccar-victim-7"
    assert unassigned_partition(wearer, 64) != unassigned_partition(phone, 64)
    placements = {wearer: "BAR-2026-17", phone: "BAR-2026-17"}
    partitions = {partition_of(case, 64) for case in placements.values()}
    assert len(partitions) == 1
    subjects = {subject_for(partition_of(placements[d], 64), d) for d in placements}
    assert {s.rsplit(".", 1)[0] for s in subjects} == {f"vigie.obs.{partitions.pop():04d}"}


@pytest.mark.parametrize("n", [0, -1, 10_001])
def test_partition_count_checked(n: int) -> None:
    with pytest.raises(ValueError, match="partitions"):
        partition_of("C-1", n)
