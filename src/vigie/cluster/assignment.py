"""Who should own which partition, and what a worker does with a lease: pure decisions.

Rendezvous (highest random weight) hashing of (partition, worker) over the live workers: every
partition has one preferred owner, adding a worker moves about P/W partitions to it, and removing
one moves only its own. Leases (KV) decide who works; the term in PostgreSQL decides who may
commit, so these decisions are about liveness, never safety (design scale-ha.md §2.5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

# A worker that sees a partition free which it does not prefer leaves its preferred owner this
# long to retake it (after a KV blip, the previous holders retake their own without churn).
DEFAULT_GRACE_S = 0.5


def score(partition: int, worker: str) -> int:
    """The rendezvous weight of `worker` for `partition` (stable across processes and versions)."""
    digest = hashlib.blake2b(f"{partition}/{worker}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def preferred_owner(partition: int, workers: Iterable[str]) -> str | None:
    """The live worker with the highest weight for `partition`; None when there is none. Ties
    (astronomically unlikely) go to the greatest name, so every process agrees."""
    best: tuple[int, str] | None = None
    for worker in workers:
        key = (score(partition, worker), worker)
        if best is None or key > best:
            best = key
    return None if best is None else best[1]


def preferred_owners(n: int, workers: Collection[str]) -> dict[int, str]:
    """Partition -> its preferred owner, for partitions 0..n-1 (empty without workers)."""
    if not workers:
        return {}
    owners: dict[int, str] = {}
    for partition in range(n):
        owner = preferred_owner(partition, workers)
        assert owner is not None
        owners[partition] = owner
    return owners


@dataclass(frozen=True, slots=True)
class Plan:
    """What one worker should do now: partitions to claim, partitions to hand over."""

    claim: frozenset[int]
    release: frozenset[int]


def plan(
    me: str,
    n: int,
    owned: Collection[int],
    free_since: Mapping[int, float],
    live: Collection[str],
    now: float,
    grace_s: float = DEFAULT_GRACE_S,
) -> Plan:
    """Claim the free partitions `me` prefers at once, and any other free one left free for
    longer than `grace_s` (its preferred owner may be dead and not yet expired); release the
    owned ones whose preferred owner is another live worker, who will take them.

    `free_since` maps the partitions whose lease is absent, released or expired to when they were
    seen so (monotonic seconds); `live` are the workers present in `vigie_workers`.
    """
    workers = set(live) | {me}
    claim = set()
    for partition, since in free_since.items():
        if partition in owned or not 0 <= partition < n:
            continue
        if preferred_owner(partition, workers) == me or now - since >= grace_s:
            claim.add(partition)
    release = {p for p in owned if preferred_owner(p, workers) != me}
    return Plan(frozenset(claim), frozenset(release))


class Outcome(Enum):
    """What happened to a held lease or to a step on its partition."""

    RENEWED = "renewed"
    # The KV did not answer (its stream leader being elected, a connection blip): not a loss.
    UNAVAILABLE = "unavailable"
    # `KeyWrongLastSequence`: someone else holds the key now.
    WRONG_SEQUENCE = "wrong_sequence"
    # The step's commit found a newer term in PostgreSQL.
    FENCED = "fenced"
    STEP_FAILED = "step_failed"
    STEP_COMMITTED = "step_committed"


class Action(Enum):
    KEEP = "keep"  # go on stepping and renewing
    DROP = "drop"  # stop at once, leave the key alone (it is someone else's)
    RELEASE = "release"  # give it up: delete the key at our revision so another takes it now


@dataclass(frozen=True, slots=True)
class LeaseState:
    """A held lease's health: since when its steps have failed (None when the last committed)."""

    failing_since: float | None = None


def decide(
    state: LeaseState, outcome: Outcome, now: float, lease_s: float
) -> tuple[LeaseState, Action]:
    """The next state and action after `outcome`.

    A renewal the KV could not answer never drops a partition (fencing keeps it safe; dropping
    would blind it for a whole election); a wrong last sequence or a fenced commit always does.
    Steps failing for `lease_s` (this worker cut from PostgreSQL) release it, so that a worker
    that can reach the database takes over.
    """
    if outcome in (Outcome.WRONG_SEQUENCE, Outcome.FENCED):
        return state, Action.DROP
    if outcome is Outcome.STEP_COMMITTED:
        return LeaseState(None), Action.KEEP
    if outcome is Outcome.STEP_FAILED:
        since = now if state.failing_since is None else state.failing_since
        if now - since >= lease_s:
            return LeaseState(since), Action.RELEASE
        return LeaseState(since), Action.KEEP
    return state, Action.KEEP
