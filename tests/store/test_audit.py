"""The audit chain: appends link to the previous hash; any raw edit is found and named."""

import threading

from sqlalchemy import text

from vigie.store import Database, audit


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
