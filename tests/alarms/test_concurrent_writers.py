"""Several writers at once, on PostgreSQL (cluster mode's database): alarm ids commit in order
so a follower of `GET /api/alarms?after=ID` misses none, and any number of API processes may
deliver the outbox without sending a message twice (design/scale-ha.md §2.4, §2.8, §5.2)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from tests.alarms.test_partitions import (
    T0,
    Clock,
    counts,
    seed_cases,
    state_of,
    tamper,
    worker,
)
from tests.api.world import World, build
from tests.conftest import Centre, Mailbox, fresh_database
from vigie import clock
from vigie.alarms import episodes, journal, outbox
from vigie.alarms.pipeline import PartitionStep
from vigie.alarms.sources import BatchSource
from vigie.settings import Settings
from vigie.store import Database, audit, engine_state
from vigie.store.engine_state import Fenced
from vigie.store.models import Alarm, OutboxMessage


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """PostgreSQL only: the properties here are about concurrent transactions."""
    with fresh_database(request, "postgresql", tmp_path) as url:
        yield url


def raised(case: str, device: str) -> dict[str, Any]:
    return {"t": T0, "case": case, "kind": "tamper", "state": "raised", "device": device}


def open_alarm(
    db: Database, case: str, inserted: threading.Event, go: threading.Event | None
) -> None:
    """Open one alarm in a transaction that (with `go`) waits before its commit."""
    with db.session() as session:
        episodes.fold(session, [raised(case, "B1") | {"detail": {}}], T0)
        inserted.set()
        if go is not None:
            assert go.wait(10)


def ids_after(db: Database, after: int) -> list[int]:
    with db.reading() as session:
        return list(session.scalars(select(Alarm.id).where(Alarm.id > after).order_by(Alarm.id)))


def race(db: Database) -> tuple[list[int], list[int]]:
    """A opens an alarm and holds its commit; B opens one meanwhile; a follower polls between.
    Returns what the follower saw and every alarm id."""
    a_inserted, b_inserted, go = threading.Event(), threading.Event(), threading.Event()
    a = threading.Thread(target=open_alarm, args=(db, "CA", a_inserted, go))
    b = threading.Thread(target=open_alarm, args=(db, "CB", b_inserted, None))
    a.start()
    assert a_inserted.wait(10)
    b.start()
    b.join(1.0)  # B commits at once unless it waits for A's lock
    seen = ids_after(db, 0)
    go.set()
    a.join(10)
    b.join(10)
    follower = max(seen, default=0)
    seen += ids_after(db, follower)
    return seen, ids_after(db, 0)


def test_alarm_ids_commit_in_order_so_a_follower_misses_none(db: Database) -> None:
    seen, every = race(db)
    assert len(every) == 2 and seen == every


def test_without_the_lock_a_follower_would_miss_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the race above does skip an alarm when nothing orders the ids."""
    monkeypatch.setattr(episodes, "lock_alarm_ids", lambda session: None)
    seen, every = race(db)
    assert len(every) == 2 and seen == every[1:]


def test_two_partitions_stepping_at_once_never_make_a_follower_skip(centre: Centre) -> None:
    """Two partitions' steps from two threads, each opening an alarm per step, while a
    follower polls the API's `?after=`: it sees every alarm."""
    db = centre.db
    per_partition = 20
    cases = {f"C{p}-{i}": p for p in (0, 1) for i in range(per_partition)}
    seed_cases(db, cases)
    headers = centre.headers("operator")
    errors: list[BaseException] = []

    def run(partition: int) -> None:
        try:
            step = worker(db, partition, Clock(T0 + timedelta(minutes=30)))
            for i in range(per_partition):
                batch = [tamper(f"C{partition}-{i}", 1 + i * 0.1, 1)]
                step.step(BatchSource(batch, cursor=i + 1, messages=1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (0, 1)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    after = 0
    while True:
        running = any(t.is_alive() for t in threads)
        response = centre.client.get(f"/api/alarms?after={after}&kind=tamper", headers=headers)
        assert response.status_code == 200, response.text
        new = sorted(a["id"] for a in response.json())
        seen += new
        after = max([after, *new])
        if not running:  # this poll began after the last commit
            break
    for thread in threads:
        thread.join(30)
    assert errors == []
    with db.reading() as session:
        every = list(session.scalars(select(Alarm.id).where(Alarm.kind == "tamper")))
        partitions = sorted(set(session.scalars(select(Alarm.partition))))
    assert len(every) == 2 * per_partition and partitions == [0, 1]
    assert sorted(seen) == sorted(every)


def test_a_claim_waits_for_the_step_under_way_and_gets_its_cursor(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old owner's step holds the partition's row: a claim made meanwhile waits for its
    commit (within the claim's patience) and restores from it, and the old owner's next step is
    fenced."""
    seed_cases(db, {"C1": 7})
    owner = worker(db, 7, Clock(T0 + timedelta(minutes=30)))
    release = threading.Event()
    stepping, errors = held_step(owner, release, monkeypatch, tamper("C1", 1, 1), cursor=9)
    claimed: list[engine_state.Claimed] = []

    def claim() -> None:
        with db.session() as session:
            claimed.append(engine_state.claim(session, 7, patience_s=60))

    claiming = threading.Thread(target=claim)
    claiming.start()
    claiming.join(0.5)
    assert claiming.is_alive()  # waiting on the step's row lock
    release.set()
    stepping.join(10)
    claiming.join(10)
    assert [(c.term, c.cursor, c.processed) for c in claimed] == [(2, 9, 1)]
    assert errors == []
    with pytest.raises(Fenced):
        owner.step(BatchSource([tamper("C1", 1.1, 2)], cursor=10, messages=1))


def test_a_claim_ends_the_step_of_an_owner_that_stopped_in_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An owner paused in its step (SIGSTOP, a frozen VM) keeps its transaction and the row
    lock as long as its connection lives: the claim ends that idle transaction after its
    patience, instead of leaving the partition blind until the owner wakes. The stopped step
    commits nothing; its batch is the new owner's to consume."""
    seed_cases(db, {"C1": 7})
    owner = worker(db, 7, Clock(T0 + timedelta(minutes=30)))
    owner.step(BatchSource([tamper("C1", 1, 1)], cursor=9, messages=1))
    before = counts(db)
    release = threading.Event()
    stepping, errors = held_step(owner, release, monkeypatch, tamper("C1", 2, 2), cursor=10)
    claimed: list[engine_state.Claimed] = []

    def claim() -> None:
        with db.session() as session:
            claimed.append(engine_state.claim(session, 7, patience_s=0.2))

    claiming = threading.Thread(target=claim)
    claiming.start()
    claiming.join(30)  # never released: only the claim's ending of it can let the claim through
    alive = claiming.is_alive()
    release.set()  # the owner wakes, into a transaction that was ended
    stepping.join(10)
    claiming.join(10)
    assert not alive, "the claim waited on the stopped owner's transaction"
    assert [(c.term, c.cursor, c.processed) for c in claimed] == [(2, 9, 1)]
    assert errors and not isinstance(errors[0], Fenced), errors  # its connection was ended
    assert counts(db) == before  # nothing of the stopped step: observation, alarm, journal


def test_a_step_stopped_after_opening_an_alarm_holds_the_centre_only_briefly(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening an alarm takes the centre's alarm-id lock (ids commit in order) and its
    commands the audit chain's head. An owner paused there, with no claim coming (its lease
    not yet expired), held every other partition's new alarms and every audited request: the
    server ends its transaction after `HOLD_S`, which commits nothing."""
    monkeypatch.setattr(engine_state, "HOLD_S", 0.5)
    seed_cases(db, {"C1": 7, "C2": 3})
    owner = worker(db, 7, Clock(T0 + timedelta(minutes=30)))
    other = worker(db, 3, Clock(T0 + timedelta(minutes=30)))
    before = counts(db)
    release = threading.Event()
    stepping, errors = held_step(owner, release, monkeypatch, tamper("C1", 1, 1), cursor=9)
    monkeypatch.undo()  # the other partition's step is not held
    monkeypatch.setattr(engine_state, "HOLD_S", 0.5)
    done: list[str] = []

    def other_step() -> None:
        other.step(BatchSource([tamper("C2", 1, 1)], cursor=4, messages=1))
        with db.session() as session:  # an audited request's append
            audit.record(session, "operator", "alarms_listed", "alarms")
        done.append("C2")

    stepping_too = threading.Thread(target=other_step)
    stepping_too.start()
    stepping_too.join(20)  # the owner is still stopped in its step
    alive = stepping_too.is_alive()
    release.set()
    stepping.join(10)
    stepping_too.join(10)
    assert not alive, "another partition's alarm waited for the stopped owner"
    assert done == ["C2"]
    assert errors and not isinstance(errors[0], Fenced), errors  # its connection was ended
    with db.reading() as session:
        opened = set(session.scalars(select(Alarm.case_ref)))
    assert opened == {"C2"}  # nothing of the stopped step
    assert counts(db)["steps"] == before["steps"] + 1


def test_a_claim_leaves_a_busy_holder_alone_and_gives_up_after_its_wait(db: Database) -> None:
    """A transaction holding the row while it runs a statement is not ended (a long query, a
    migration); the claim stops waiting after `wait_s` and fails, so the worker gives the lease
    back instead of waiting without end, and the holder commits."""
    seed_cases(db, {"C1": 7})
    locked, done = threading.Event(), []

    def busy() -> None:
        with db.session() as session:
            engine_state.fence(session, 7, None)
            locked.set()
            session.execute(text("SELECT pg_sleep(3)"))
        done.append(True)

    holder = threading.Thread(target=busy)
    holder.start()
    assert locked.wait(10)
    with pytest.raises(OperationalError, match="lock timeout"), db.session() as session:
        engine_state.claim(session, 7, patience_s=0.2, wait_s=1.0)
    holder.join(30)
    assert done == [True]  # not ended: it committed
    assert state_of(db, 7).term == 0


def held_step(
    owner: PartitionStep,
    release: threading.Event,
    monkeypatch: pytest.MonkeyPatch,
    record: dict[str, Any],
    cursor: int,
) -> tuple[threading.Thread, list[Exception]]:
    """`owner` stepping `record` in a thread, held inside its transaction (the row locked)
    until `release`; returns the thread, once in the transaction, and the errors it raised."""
    in_step = threading.Event()
    errors: list[Exception] = []
    record_step = journal.record_step

    def held(*args: Any, **kwargs: Any) -> int:
        in_step.set()
        assert release.wait(60)
        return record_step(*args, **kwargs)

    def step() -> None:
        try:
            owner.step(BatchSource([record], cursor=cursor, messages=1))
        except Exception as exc:
            errors.append(exc)

    monkeypatch.setattr(journal, "record_step", held)
    stepping = threading.Thread(target=step)
    stepping.start()
    assert in_step.wait(10)
    return stepping, errors


def test_two_deliverers_send_each_report_once(
    centre: Centre, smtp_server: tuple[str, int, Mailbox]
) -> None:
    host, port, mailbox = smtp_server
    world: World = build(centre)
    for _ in range(8):
        world.new_alarm("closed")
    config = Settings(smtp_host=host, smtp_port=port, smtp_starttls=False)
    now = clock.now() + timedelta(minutes=1)
    sent: list[int] = []
    start = threading.Barrier(2)

    def deliver() -> None:
        start.wait()
        sent.append(outbox.deliver_due(centre.db, config, now))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with centre.db.reading() as session:
        messages = list(session.scalars(select(OutboxMessage)))
    assert len(messages) == 24 and all(m.sent_at is not None for m in messages)
    assert {m.attempts for m in messages} == {1}
    assert sum(sent) == 24 and len(mailbox.messages) == 24
    assert len({(m["To"], m["Subject"]) for m in mailbox.messages}) == 24
    assert outbox.deliver_due(centre.db, config, now) == 0
