"""Group commit: writes of the same moment share a transaction, each keeps its own answer, and
one that cannot be stored does not refuse the others."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.store.test_observations import position, rows
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.group_commit import GroupCommit
from vigie.store.models import Observation

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def storing(device: str, seq: int, sessions: list[Session]) -> Callable[[Session], list[int]]:
    """A write of one reading that notes the session it ran in."""

    def write(session: Session) -> list[int]:
        sessions.append(session)
        return log.append(session, rows([position(device, T0, seq=seq)])).ids

    return write


def stored(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Observation)) or 0


def test_writes_within_the_window_share_one_commit_and_keep_their_own_answers(
    db: Database,
) -> None:
    group = GroupCommit(db, window_s=1.0)
    try:
        sessions: list[Session] = []
        futures = [group.submit(storing(f"B{n}", n, sessions), 1) for n in range(3)]
        ids = [future.result(timeout=10) for future in futures]
    finally:
        group.close()
    assert len(sessions) == 3 and len({id(s) for s in sessions}) == 1
    assert all(len(own) == 1 for own in ids) and len({own[0] for own in ids}) == 3
    assert stored(db) == 3


def test_without_a_window_the_writes_queued_during_a_commit_share_the_next(db: Database) -> None:
    group = GroupCommit(db, window_s=0.0)
    started, release = threading.Event(), threading.Event()
    sessions: list[Session] = []

    def held(session: Session) -> None:
        started.set()
        release.wait(10)

    try:
        first = group.submit(held)
        assert started.wait(10)
        later = [group.submit(storing(f"B{n}", n, sessions), 1) for n in range(3)]
        release.set()
        first.result(timeout=10)
        for future in later:
            future.result(timeout=10)
    finally:
        release.set()
        group.close()
    assert len({id(s) for s in sessions}) == 1
    assert stored(db) == 3


def test_a_group_closes_at_its_size(db: Database) -> None:
    group = GroupCommit(db, window_s=1.0, max_size=2)
    try:
        sessions: list[Session] = []
        futures = [group.submit(storing(f"B{n}", n, sessions), 1) for n in range(3)]
        for future in futures:
            future.result(timeout=10)
    finally:
        group.close()
    assert [id(s) for s in sessions].count(id(sessions[0])) == 2
    assert id(sessions[2]) != id(sessions[0])


def test_a_write_that_fails_refuses_only_itself(db: Database) -> None:
    group = GroupCommit(db, window_s=1.0)
    sessions: list[Session] = []

    def unstorable(session: Session) -> None:
        log.append(session, rows([position("B9", T0, seq=9)]))
        raise ValueError("unstorable")

    try:
        good = group.submit(storing("B1", 1, sessions), 1)
        bad = group.submit(unstorable, 1)
        other = group.submit(storing("B2", 2, sessions), 1)
        assert len(good.result(timeout=10)) == 1 and len(other.result(timeout=10)) == 1
        with pytest.raises(ValueError, match="unstorable"):
            bad.result(timeout=10)
    finally:
        group.close()
    # The failing write's reading went with its rolled-back transaction; the others are kept.
    with db.reading() as session:
        devices = set(session.scalars(select(Observation.device)))
    assert devices == {"B1", "B2"}


def test_close_answers_what_was_handed_in_then_refuses_more(db: Database) -> None:
    group = GroupCommit(db, window_s=0.5)
    sessions: list[Session] = []
    futures = [group.submit(storing(f"B{n}", n, sessions), 1) for n in range(2)]
    group.close()
    assert all(len(f.result(timeout=0)) == 1 for f in futures)
    with pytest.raises(RuntimeError, match="closed"):
        group.submit(storing("B3", 3, sessions), 1)
    assert stored(db) == 2


def test_a_write_that_escapes_every_handler_leaves_the_writer_running(db: Database) -> None:
    group = GroupCommit(db, window_s=0.0)
    sessions: list[Session] = []

    def escaping(session: Session) -> None:
        raise SystemExit("not an Exception")

    try:
        with pytest.raises(SystemExit):
            group.submit(escaping).result(timeout=10)
        assert len(group.submit(storing("B1", 1, sessions), 1).result(timeout=10)) == 1
    finally:
        group.close()


def test_without_groups_each_write_commits_alone_on_its_callers_thread(db: Database) -> None:
    group = GroupCommit(db, window_s=None)
    sessions: list[Session] = []
    threads: list[str] = []

    def noting(session: Session) -> list[int]:
        threads.append(threading.current_thread().name)
        return storing("B1", 1, sessions)(session)

    futures = [group.submit(noting, 1), group.submit(storing("B2", 2, sessions), 1)]
    assert futures[0].done() and len(futures[1].result(timeout=0)) == 1
    assert threads == [threading.current_thread().name]
    assert id(sessions[0]) != id(sessions[1])
    group.close()
    with pytest.raises(RuntimeError, match="closed"):
        group.submit(storing("B3", 3, sessions), 1)
    assert stored(db) == 2
