"""The audit chain: appends link to the previous hash; any raw edit is found and named."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from vigie.store import Database, audit, open_database
from vigie.store.models import AuditEntry, AuditHead


def test_chain_verifies_when_intact(db: Database) -> None:
    for i in range(5):
        with db.session() as session:
            audit.record(session, "alice", "read", f"person:{i}", {"why": "case review", "n": i})
    with db.session() as session:
        checked, breach = audit.verify(session)
    assert (checked, breach) == (5, None)


def test_altered_row_is_named(db: Database) -> None:
    with db.session() as session:
        ids = [audit.record(session, "bob", "close", f"alarm:{i}").id for i in range(4)]
    with db.session() as session:
        # The append-only trigger stops the application; a tamperer with SQL access drops it.
        if db.is_sqlite:
            session.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        session.execute(
            text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": ids[2]}
        )
    with db.session() as session:
        checked, breach = audit.verify(session)
    assert checked == 2
    assert breach is not None and breach.entry_id == ids[2]


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    def append_many(actor: str) -> None:
        for i in range(15):
            with db.session() as session:
                audit.record(session, actor, "read", f"case:{i}")

    threads = [threading.Thread(target=append_many, args=(f"user{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.session() as session:
        checked, breach = audit.verify(session)
    assert (checked, breach) == (45, None)


def test_many_acts_chain_in_order_in_one_append(db: Database) -> None:
    acts: list[audit.Act] = [("pipeline", "queued", f"device:D{i}", {"n": i}) for i in range(6)]
    with db.session() as session:
        audit.record(session, "alice", "read", "case:1")
        entries = audit.record_many(session, acts)
        audit.record(session, "alice", "read", "case:2")
    # Stored in the order given, each linked to the one before, the chain's head the last.
    assert [e.target for e in entries] == [f"device:D{i}" for i in range(6)]
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    with db.session() as session:
        checked, breach = audit.verify(session)
        assert audit.record_many(session, []) == []
    assert (checked, breach) == (8, None)


def test_a_mass_append_is_stored_in_chain_order_with_its_details_whole(db: Database) -> None:
    """A step refusing thousands of placements audits each in one append: past 20 entries
    PostgreSQL takes them as arrays, past 1,000 SQLite in several statements; either way the
    ids follow the chain and each entry reads back as it was hashed."""
    when = datetime(2026, 12, 7, 23, 1, tzinfo=UTC)
    acts: list[audit.Act] = [
        ("pipeline", "placement_refused", f"case:K{i}", {"n": i, "why": "zone é", "at": when})
        for i in range(2_500)
    ]
    with db.session() as session:
        first = audit.record(session, "alice", "read", "case:1")
        entries = audit.record_many(session, acts)
    assert entries[0].prev_hash == first.hash
    assert [e.id for e in entries] == list(range(entries[0].id, entries[0].id + 2_500))
    assert [e.detail for e in entries[:2]] == [
        {"n": 0, "why": "zone é", "at": str(when)},
        {"n": 1, "why": "zone é", "at": str(when)},
    ]
    with db.reading() as session:
        stored = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        checked, breach = audit.verify(session)
    assert (checked, breach) == (2_501, None)
    assert [(s.id, s.target, s.detail, s.hash) for s in stored[1:]] == [
        (e.id, e.target, e.detail, e.hash) for e in entries
    ]


def test_an_append_flushes_what_the_caller_added(db: Database) -> None:
    """Callers rely on an append flushing their own changes (an id read right after it): its
    statements are the session's, which flushes before each, not a connection's of its own."""
    with db.session() as session:
        head = AuditHead(id=2, last_hash=audit.GENESIS)
        session.add(head)
        audit.record(session, "cli", "read", "x")
        assert session.execute(text("SELECT count(*) FROM audit_head")).scalar_one() == 2
        session.rollback()


def test_a_transaction_left_idle_holding_the_head_is_ended_and_the_chain_goes_on(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a process paused after its audit entry (a frozen VM) held the chain's head,
    so every audited request (each console's alarm list) waited until it woke. The server ends
    such a transaction once it sits idle `HOLD_S`: its entry is not kept, the others are."""
    monkeypatch.setattr(audit, "HOLD_S", 0.5)
    db = open_database(pg_url)
    holding, release, failed = threading.Event(), threading.Event(), []

    def paused() -> None:
        try:
            with db.session() as session:
                audit.record(session, "paused", "read", "alarms")
                holding.set()
                release.wait(20)  # a process that stopped here
        except Exception as exc:  # its connection was ended under it
            failed.append(exc)

    held = threading.Thread(target=paused)
    held.start()
    assert holding.wait(20)
    appended = threading.Thread(target=lambda: audit_once(db, "operator"))
    appended.start()
    appended.join(20)
    waited = appended.is_alive()
    release.set()
    held.join(20)
    appended.join(20)
    assert not waited, "an audited request waited for the paused transaction"
    assert failed, "the paused transaction was not ended"
    # Said as what it is: no failover happened (that message had sent people looking for one).
    assert "left idle past its limit" in str(failed[0]), failed[0]
    with db.reading() as session:
        checked, breach = audit.verify(session)
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert (checked, breach, actors) == (1, None, {"operator"})
    db.dispose()


def test_taking_the_head_keeps_a_shorter_idle_limit(pg_url: str) -> None:
    """A detection step sets its own, shorter limit (`engine_state.limit_idle`); its audit
    entries must not lengthen it."""
    db = open_database(pg_url)
    with db.session() as session:
        shown = "SHOW idle_in_transaction_session_timeout"
        audit.record(session, "cli", "read", "x")
        assert session.scalar(text(shown)) == f"{round(audit.HOLD_S)}s"
        session.execute(text("SET LOCAL idle_in_transaction_session_timeout = '700ms'"))
        audit.record(session, "cli", "read", "y")
        assert session.scalar(text(shown)) == "700ms"
    db.dispose()


def audit_once(db: Database, actor: str) -> None:
    with db.session() as session:
        audit.record(session, actor, "read", "alarms")
