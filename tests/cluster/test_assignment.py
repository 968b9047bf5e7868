"""Rendezvous ownership and lease decisions (design scale-ha.md §5.1)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.cluster.assignment import (
    Action,
    LeaseState,
    Outcome,
    decide,
    plan,
    preferred_owner,
    preferred_owners,
)

names = st.lists(
    st.from_regex(r"w-[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=12, unique=True
)


@settings(max_examples=30, deadline=None)
@given(names, st.integers(min_value=1, max_value=256))
def test_every_partition_has_one_preferred_live_owner(workers: list[str], n: int) -> None:
    owners = preferred_owners(n, workers)
    assert set(owners) == set(range(n))
    assert set(owners.values()) <= set(workers)
    # Every process agrees, whatever order it lists the workers in.
    assert owners == preferred_owners(n, list(reversed(workers)))


@settings(max_examples=30, deadline=None)
@given(names, st.from_regex(r"new-[a-z0-9]{1,8}", fullmatch=True))
def test_adding_a_worker_moves_at_most_its_share(workers: list[str], newcomer: str) -> None:
    n = 64
    before = preferred_owners(n, workers)
    after = preferred_owners(n, [*workers, newcomer])
    moved = {p for p in range(n) if before[p] != after[p]}
    # Only to the newcomer: no partition moves between the workers already there.
    assert all(after[p] == newcomer for p in moved)
    # How many is binomial (each partition goes to the newcomer with odds 1/(W+1)): twice the
    # share was once exceeded (17 of 64 for an 8th worker), so the bound for any one worker set
    # is six standard deviations over the share; the share itself, on average, is checked below.
    odds = 1 / (len(workers) + 1)
    assert len(moved) <= n * odds + 6 * math.sqrt(n * odds * (1 - odds))


def test_a_newcomer_takes_its_share_on_average() -> None:
    """About P/(W+1) partitions move to a new worker. Rendezvous hashing gives that on average,
    not as a bound for every worker set (binomial: 19 of 64 was seen for a 4th worker), so the
    design's "≤ ceil(P/W)+1" is checked as a mean over 200 worker sets."""
    n, moved = 64, []
    for i in range(200):
        workers = [f"host{i}-{k}" for k in range(3)]
        before = preferred_owners(n, workers)
        after = preferred_owners(n, [*workers, f"host{i}-new"])
        moved.append(sum(before[p] != after[p] for p in range(n)))
    mean = sum(moved) / len(moved)
    assert abs(mean - n / 4) <= 1.5, mean
    assert max(moved) <= 2 * n / 4


@settings(max_examples=30, deadline=None)
@given(names.filter(lambda w: len(w) >= 2), st.data())
def test_removing_a_worker_moves_only_its_own(workers: list[str], data: st.DataObject) -> None:
    n = 64
    gone = data.draw(st.sampled_from(workers))
    before = preferred_owners(n, workers)
    after = preferred_owners(n, [w for w in workers if w != gone])
    for p in range(n):
        if before[p] != gone:
            assert after[p] == before[p]
        else:
            assert after[p] != gone


def test_no_worker_no_owner() -> None:
    assert preferred_owner(3, []) is None
    assert preferred_owners(8, []) == {}


def test_shares_are_fair_enough() -> None:
    owners = preferred_owners(64, ["w-a", "w-b", "w-c", "w-d"])
    counts = [list(owners.values()).count(w) for w in ("w-a", "w-b", "w-c", "w-d")]
    assert sum(counts) == 64 and min(counts) >= 8


def test_plan_claims_own_at_once_others_after_grace_and_hands_over() -> None:
    workers = ["w-a", "w-b"]
    owners = preferred_owners(16, workers)
    mine = {p for p, w in owners.items() if w == "w-a"}
    theirs = set(range(16)) - mine
    free = dict.fromkeys(range(16), 100.0)
    early = plan("w-a", 16, set(), free, workers, now=100.1)
    assert early.claim == mine and not early.release
    late = plan("w-a", 16, set(), free, workers, now=100.6)
    assert late.claim == set(range(16))
    # Holding everything while w-b is alive: w-b's are handed over, nothing is claimed twice.
    full = plan("w-a", 16, set(range(16)), {}, workers, now=200.0)
    assert full.release == theirs and not full.claim
    # w-b gone from presence: w-a keeps all.
    assert not plan("w-a", 16, set(range(16)), {}, ["w-a"], now=200.0).release


def test_unavailable_kv_never_drops_a_partition() -> None:
    state = LeaseState()
    for i in range(100):  # a long election: renewals keep failing
        state, action = decide(state, Outcome.UNAVAILABLE, now=float(i), lease_s=3.0)
        assert action is Action.KEEP


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(list(Outcome)), max_size=20))
def test_wrong_sequence_and_fenced_always_drop(history: list[Outcome]) -> None:
    state = LeaseState()
    for i, outcome in enumerate(history):
        state, _ = decide(state, outcome, now=i * 0.1, lease_s=3.0)
    for final in (Outcome.WRONG_SEQUENCE, Outcome.FENCED):
        assert decide(state, final, now=99.0, lease_s=3.0)[1] is Action.DROP


def test_steps_failing_for_a_lease_release_it() -> None:
    state, action = decide(LeaseState(), Outcome.STEP_FAILED, now=10.0, lease_s=3.0)
    assert action is Action.KEEP
    state, action = decide(state, Outcome.STEP_FAILED, now=12.9, lease_s=3.0)
    assert action is Action.KEEP
    # A commit in between restarts the count.
    reset, action = decide(state, Outcome.STEP_COMMITTED, now=12.95, lease_s=3.0)
    assert action is Action.KEEP and reset.failing_since is None
    _, action = decide(state, Outcome.STEP_FAILED, now=13.0, lease_s=3.0)
    assert action is Action.RELEASE


def test_pure_modules_import_no_io() -> None:
    """partitions and assignment are pure: no NATS, database or web import (any process, the
    embedded centre's included, may use them)."""
    import subprocess
    import sys

    code = (
        "import sys, vigie.cluster.partitions, vigie.cluster.assignment;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('nats', 'sqlalchemy', 'fastapi', 'psycopg', 'httpx')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
