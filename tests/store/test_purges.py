"""A retention purge that never ended, or failed, is told: by the next run of the command, by
`/api/health` and by supervision; the next run's end clears it. One purge runs at a time: another
started meanwhile is refused, and a purge running is told running, not interrupted."""

from __future__ import annotations

import os
import select as polling
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import Result

from tests.alarms.test_end_to_end import eventually
from tests.conftest import Centre
from tests.store.test_commands import vigie
from vigie import clock
from vigie.commands.db import ALREADY_RUNNING
from vigie.store import Database, audit, open_database, purges
from vigie.store import observations as log
from vigie.store.models import AuditEntry

# The purge's own clock, set by each test: no date here is compared with the wall clock.
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

__all__ = ["vigie"]  # the command in-process, a fixture of the command tests


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Sets the centre's clock (`vigie.clock`) to an instant."""

    def move(instant: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: instant)

    return move


def some_fixes(db: Database, now: datetime) -> None:
    """Two old fixes and a recent one of device B1 (the newest row is never purged)."""
    fix = {"kind": "obs", "device": "B1", "type": "position", "lat": 1.0, "lon": 2.0}
    with db.session() as session:
        log.append(
            session,
            [
                log.row_for(fix | {"t": n}, now - timedelta(days=d), now, source="test")
                for n, d in (("a", 100), ("b", 90), ("c", 1))
            ],
        )


def actions(db: Database) -> list[tuple[str, dict[str, Any]]]:
    """The purges' audit entries (not the logins and reads of the test's requests), in order."""
    with db.reading() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.action.startswith("purge_locations"))
            .order_by(AuditEntry.id)
        ).all()
    return [(a, d) for a, d in rows]


def killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next purge stops as a killed process does: nothing after its start is written."""

    def stop(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt  # not an Exception: the command writes nothing more

    monkeypatch.setattr(log, "purge_locations", stop)


def test_an_interrupted_purge_is_told_by_health_supervision_and_the_next_run(
    centre: Centre,
    vigie: Callable[..., Result],
    at: Callable[[datetime], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = centre.db
    some_fixes(db, T0)
    assert "unfinished_purge" not in centre.client.get("/api/health").json()

    at(T0)
    with monkeypatch.context() as stopped:
        killed(stopped)
        first = vigie("db", "purge-locations", "--older-than", "30")
    assert first.exit_code != 0
    assert [a for a, _ in actions(db)] == [purges.STARTED]
    with db.reading() as session:
        assert log.count(session) == 3  # nothing deleted

    # Health says so, without changing its status: the centre serves and detects.
    health = centre.client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["unfinished_purge"] == {
        "started_at": T0.isoformat().replace("+00:00", "Z"),
        "cutoff": (T0 - timedelta(days=30)).isoformat(),
        "older_than_days": 30,
        "state": "interrupted",
        "error": None,
        "running": False,
    }
    board = centre.client.get("/api/console/supervision", headers=centre.headers("supervisor"))
    assert board.status_code == 200, board.text
    board = board.json()
    assert board["unfinished_purge"]["state"] == "interrupted"
    assert board["unfinished_purge"]["cutoff"] == (T0 - timedelta(days=30)).isoformat()

    # The next run, a day later and with a longer retention, warns, audits the interruption
    # and finishes; its end closes both.
    at(T0 + timedelta(days=1))
    second = vigie("db", "purge-locations", "--older-than", "60")
    assert second.exit_code == 0, second.output
    assert "never ended" in second.output and "2026-03-02 09:30 UTC" in second.output
    assert (T0 - timedelta(days=30)).isoformat() in second.output
    assert "purged 2 position fixes" in second.output
    done = actions(db)
    assert [a for a, _ in done] == [
        purges.STARTED,
        purges.INTERRUPTED,
        purges.STARTED,
        purges.ENDED,
    ]
    with db.reading() as session:
        first_start = session.scalars(
            select(AuditEntry.id).where(AuditEntry.action == purges.STARTED).order_by(AuditEntry.id)
        ).first()
        assert audit.verify(session)[1] is None
    assert done[1][1] == {
        "started_entry": first_start,
        "started_at": T0.isoformat(),
        "cutoff": (T0 - timedelta(days=30)).isoformat(),
        "older_than_days": 30,
    }
    assert done[3][1]["purged"] == 2
    assert "unfinished_purge" not in centre.client.get("/api/health").json()
    # Another account: the first one's token expired as the clock moved a day on.
    later = centre.client.get(
        "/api/console/supervision", headers=centre.headers("supervisor", "sup2")
    )
    assert later.status_code == 200, later.text
    assert "unfinished_purge" in later.json() and later.json()["unfinished_purge"] is None

    # A third run finds nothing to report.
    third = vigie("db", "purge-locations", "--older-than", "60")
    assert third.exit_code == 0 and "warning" not in third.output
    assert purges.INTERRUPTED not in [a for a, _ in actions(db)[4:]]


def test_a_failing_purge_audits_its_failure_and_how_far_it_went(
    centre: Centre,
    vigie: Callable[..., Result],
    at: Callable[[datetime], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = centre.db
    some_fixes(db, T0)
    at(T0)
    real = log.purge_locations

    def half_way(database: Database, before: datetime, **kwargs: Any) -> int:
        """One batch of one fix deleted and committed, then the disk fills."""
        progress = kwargs["progress"]

        def then_fail(count: int) -> None:
            progress(count)
            raise OSError(28, "No space left on device")

        return real(database, before, batch=1, progress=then_fail)

    with monkeypatch.context() as failing:
        failing.setattr(log, "purge_locations", half_way)
        failed = vigie("db", "purge-locations", "--older-than", "30")
    assert failed.exit_code == 1
    assert "purge failed after 1 position fixes deleted" in failed.output
    assert "No space left on device" in failed.output
    entries = actions(db)
    assert [a for a, _ in entries] == [purges.STARTED, purges.FAILED]
    detail = entries[1][1]
    assert detail["error_type"] == "OSError"
    assert "No space left on device" in detail["error"]
    assert detail["purged_before_failure"] == 1
    assert detail["cutoff"] == (T0 - timedelta(days=30)).isoformat()
    with db.reading() as session:
        assert log.count(session) == 2  # the one committed batch stays done
        start = session.scalar(select(AuditEntry.id).where(AuditEntry.action == purges.STARTED))
    assert detail["started_entry"] == start

    # Closed, but not done: health still says the last purge did not end well, with its error.
    told = centre.client.get("/api/health").json()["unfinished_purge"]
    assert told["state"] == "failed" and told["started_at"] == T0.isoformat().replace("+00:00", "Z")
    assert told["error"].startswith("OSError:")

    at(T0 + timedelta(hours=2))
    again = vigie("db", "purge-locations", "--older-than", "30")
    assert again.exit_code == 0, again.output
    assert "failed: OSError" in again.output
    # A failure is closed by its own entry: no interruption to audit.
    assert [a for a, _ in actions(db)][2:] == [purges.STARTED, purges.ENDED]
    assert "unfinished_purge" not in centre.client.get("/api/health").json()


def test_the_newest_mark_tells_whatever_was_appended_after_it(db: Database) -> None:
    with db.reading() as session:
        assert purges.unfinished(session) is None  # no purge ever ran
    with db.session() as session:
        audit.record(session, "system", purges.STARTED, "observations", {"cutoff": "c1"})
        for i in range(5):
            audit.record(session, "ops", "read", f"case:{i}")
    with db.reading() as session:
        seen = purges.unfinished(session)
    assert seen is not None and seen.cutoff == "c1" and seen.state == "interrupted"
    with db.session() as session:
        audit.record(session, "system", purges.ENDED, "observations", {"cutoff": "c1"})
        audit.record(session, "ops", "read", "case:8")
    with db.reading() as session:
        assert purges.unfinished(session) is None
    with db.session() as session:
        audit.record(session, "system", purges.STARTED, "observations", {"cutoff": "c2"})
        audit.record(session, "ops", "read", "case:9")
    with db.reading() as session:
        again = purges.unfinished(session)
    assert again is not None and again.cutoff == "c2"


def test_the_last_mark_is_read_through_its_partial_index(db: Database) -> None:
    """The newest mark is the last entry of `ix_audit_log_purge_marks`, on both databases: the
    query repeats the index's predicate as written, and the plan names the index."""
    with db.session() as session:
        audit.record(session, "system", purges.STARTED, "observations", {"cutoff": "c"})
        for i in range(50):
            audit.record(session, "ops", "read", f"case:{i}")
    with db.reading() as session:
        connection = session.connection()
        sql = str(purges.LAST_MARK.compile(connection, compile_kwargs={"literal_binds": True}))
        if connection.dialect.name == "sqlite":
            plan = [str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
        else:
            # A table of 51 rows, once analyzed, is read whole by PostgreSQL's planner (cheaper
            # than any index at that size). Without sequential scans it is left a choice of
            # indexes: the partial one when it matches the query, the primary key read
            # backwards through every entry when it does not.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = [str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {sql}")]
    assert any("ix_audit_log_purge_marks" in step for step in plan), plan


# The command in a process of its own, its deleting replaced by a wait: it holds the lock and has
# audited its start, as a long purge does; it ends when its stdin closes, or when it is killed.
RUNNING_PURGE = """
import sys
from vigie.cli import app
from vigie.store import observations

def deleting(*args, **kwargs):
    print("deleting", flush=True)
    sys.stdin.read()
    return 0

observations.purge_locations = deleting
app(["db", "purge-locations", "--older-than", "30"])
"""


@contextmanager
def purging(database_url: str) -> Iterator[subprocess.Popen[str]]:
    """`vigie db purge-locations` in another process, under way (lock held, start audited)."""
    with subprocess.Popen(
        [sys.executable, "-c", RUNNING_PURGE],
        env=os.environ | {"VIGIE_DATABASE_URL": database_url},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as purge:
        assert purge.stdout is not None
        try:
            ready, _, _ = polling.select([purge.stdout], [], [], 60)
            if not ready or purge.stdout.readline() != "deleting\n":
                purge.kill()
                raise AssertionError(f"the purge did not get under way: {purge.communicate()[1]}")
            yield purge
        finally:
            if purge.poll() is None:
                purge.kill()


def told(centre: Centre) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """What `/api/health` and the supervision page say of the last purge."""
    health = centre.client.get("/api/health").json().get("unfinished_purge")
    board = centre.client.get("/api/console/supervision", headers=centre.headers("supervisor"))
    assert board.status_code == 200, board.text
    return health, board.json()["unfinished_purge"]


def started_entry(db: Database) -> AuditEntry:
    with db.reading() as session:
        (start,) = session.scalars(select(AuditEntry).where(AuditEntry.action == purges.STARTED))
    return start


def test_a_purge_while_another_runs_is_refused_and_the_one_running_told_running(
    centre: Centre, vigie: Callable[..., Result], database_url: str
) -> None:
    db = centre.db
    some_fixes(db, clock.now())
    with purging(database_url) as first:
        start = started_entry(db)
        health, board = told(centre)
        assert health is not None and board is not None
        assert health["running"] is True and health["state"] == "running"
        assert board["running"] is True and board["state"] == "running"
        assert health["cutoff"] == start.detail["cutoff"]

        second = vigie("db", "purge-locations", "--older-than", "60")
        assert second.exit_code == ALREADY_RUNNING, second.output
        assert "already running since" in second.output
        assert f"{start.at:%Y-%m-%d %H:%M} UTC" in second.output
        assert start.detail["cutoff"] in second.output
        assert "never ended" not in second.output
        refusal = actions(db)
        assert [a for a, _ in refusal] == [purges.STARTED, purges.REFUSED]
        assert refusal[1][1]["older_than_days"] == 60
        assert refusal[1][1]["running_entry"] == start.id
        with db.reading() as session:
            assert log.count(session) == 3  # the refused run deleted nothing
            assert audit.verify(session)[1] is None
        # The refusal is no mark: the purge running is still the last one, still running.
        assert told(centre)[0] == health

        assert first.stdin is not None
        first.stdin.close()  # its deleting done: it ends well
        assert first.wait(timeout=60) == 0
    assert [a for a, _ in actions(db)] == [purges.STARTED, purges.REFUSED, purges.ENDED]
    assert told(centre) == (None, None)


def test_a_purge_killed_leaves_no_lock_and_is_told_interrupted(
    centre: Centre, vigie: Callable[..., Result], database_url: str
) -> None:
    db = centre.db
    some_fixes(db, clock.now())
    with purging(database_url) as first:
        health, board = told(centre)
        assert health is not None and health["running"] is True
        assert board is not None and board["running"] is True
        first.kill()  # SIGKILL: nothing of it runs after
        first.wait(timeout=60)
    start = started_entry(db)

    def interrupted() -> tuple[dict[str, Any], dict[str, Any]] | None:
        health, board = told(centre)
        return None if health is None or health["state"] != "interrupted" else (health, board)

    # PostgreSQL ends the killed purge's session, and its lock, a moment after its process.
    health, board = eventually(interrupted, timeout_s=10)
    assert health["running"] is False and health["cutoff"] == start.detail["cutoff"]
    assert board["state"] == "interrupted" and board["running"] is False

    again = vigie("db", "purge-locations", "--older-than", "30")
    assert again.exit_code == 0, again.output
    assert "never ended: it was interrupted" in again.output
    assert "purged 2 position fixes" in again.output
    done = actions(db)
    assert [a for a, _ in done] == [
        purges.STARTED,
        purges.INTERRUPTED,
        purges.STARTED,
        purges.ENDED,
    ]
    assert done[1][1]["started_entry"] == start.id
    assert told(centre) == (None, None)


def test_a_purge_waits_out_a_lock_held_a_moment(db: Database, vigie: Callable[..., Result]) -> None:
    """A lock held for less than `LOCK_WAIT_S` (a killed purge's session not ended yet, a look at
    the lock) is waited for: the purge runs after it, and is not refused."""
    some_fixes(db, clock.now())
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with purges.held(db):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(10)
    threading.Timer(0.5, release.set).start()  # within LOCK_WAIT_S, not at once
    waited = vigie("db", "purge-locations", "--older-than", "30")
    holder.join(10)
    assert waited.exit_code == 0, waited.output
    assert "purged 2 position fixes" in waited.output


def test_a_start_is_running_while_its_lock_is_held_and_interrupted_after(db: Database) -> None:
    with purges.held(db):
        with db.session() as session:
            audit.record(session, "system", purges.STARTED, "observations", {"cutoff": "c"})
        with pytest.raises(purges.AlreadyRunning), purges.held(db):
            pass
        with db.reading() as session:
            running = purges.unfinished(session)
            ours = purges.unfinished(session, holding=True)
        assert running is not None and running.state == "running" and running.cutoff == "c"
        assert ours is not None and ours.state == "interrupted"  # its holder says so: no look
    with db.reading() as session:
        gone = purges.unfinished(session)
    assert gone is not None and gone.state == "interrupted" and not gone.as_json()["running"]
    with purges.held(db):  # free again
        pass


def test_an_in_memory_database_is_purged_by_one_thread_at_a_time() -> None:
    """No other process can open it: the lock is this process's."""
    memory = open_database("sqlite://")
    try:
        with purges.held(memory), pytest.raises(purges.AlreadyRunning), purges.held(memory):
            pass
        with purges.held(memory):  # freed at the end of the first
            pass
    finally:
        memory.dispose()
