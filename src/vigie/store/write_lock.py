"""Reads that decide a write: on SQLite, the write lock taken before them.

PostgreSQL locks the rows such a read returns (`with_for_update`). SQLite has one writer, but
pysqlite begins a transaction only at its first write: the reads before it are each their own,
and the detector (a process of its own) could commit between an operator's check of an alarm
and the write that followed (an escalation read as due, written after the alarm was taken).
"""

from __future__ import annotations

from sqlalchemy.orm import Session


def hold_writer(session: Session) -> None:
    """On SQLite, begin the write transaction now unless one is (BEGIN IMMEDIATE, which waits
    for another process's as any write does): what is read next is the last commit, and stays
    so until this one commits; as after any write, another session of this thread that writes
    then waits for it (SQLite's busy timeout). Nothing on PostgreSQL."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")
