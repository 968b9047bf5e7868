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
