"""Indexes that a migration adds to a live centre: built CONCURRENTLY on PostgreSQL.

A plain ``CREATE INDEX`` holds a SHARE lock on its table for the whole build. Every insert
waits for it, and every later insert queues behind the build's own wait for the inserts under
way. On ``audit_log``, which takes an entry for each ingest batch, a build over a centre's
history would stop ingest for minutes: the centre would be blind during ``vigie db upgrade``.
CONCURRENTLY takes a lock that no writer waits for. It runs outside a transaction (alembic's
autocommit block), after the steps before it have committed. A build that failed midway leaves
an invalid index of its name, dropped before the next attempt. SQLite has one writer whatever
a migration does: a plain build there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic import op


def create_index(name: str, table: str, columns: Sequence[str], **options: Any) -> None:
    """``op.create_index``, CONCURRENTLY on PostgreSQL."""
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(name, table, list(columns), **options)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, table, list(columns), postgresql_concurrently=True, **options)


def drop_index(name: str, table: str) -> None:
    """``op.drop_index``, CONCURRENTLY on PostgreSQL (a plain drop waits for every reader)."""
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
