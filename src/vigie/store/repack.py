"""Give an existing SQLite file the pages a new one gets (`database.PAGE_SIZE`).

A file keeps the page size it was created with; new files get 1 KB pages, which write less a
commit (`database._sqlite_pragmas`). Changing it rewrites the whole file (VACUUM), which SQLite
allows only out of WAL mode, so only with the centre stopped: while another connection has the
file open, leaving WAL mode fails and nothing is changed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from vigie.store.database import PAGE_SIZE, Database


class RepackRefused(Exception):
    """The file cannot be repacked now (not SQLite, or in use); nothing was changed."""


@dataclass(frozen=True, slots=True)
class Repacked:
    before: int
    after: int


def advice(db: Database) -> str | None:
    """What to tell whoever starts the centre on a file whose pages are not a new file's (None
    when they are, or on PostgreSQL): nothing else would say that repacking writes less."""
    if not db.is_sqlite:
        return None
    with db.engine.connect() as connection:
        size = connection.exec_driver_sql("PRAGMA page_size").scalar()
    if size == PAGE_SIZE:
        return None
    return (
        f"this SQLite file has pages of {size} bytes where a new one has {PAGE_SIZE}: it writes "
        "about 40 % more a reading (docs/store-redesign.md); `vigie db repack`, with the "
        "centre stopped, rewrites it"
    )


def repack(url: str, page_size: int = PAGE_SIZE) -> Repacked:
    """Rewrite the SQLite file of `url` with pages of `page_size` bytes (a no-op if it has
    them). VACUUM writes a copy first: free disk of about the file's size is needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise RepackRefused("only a SQLite file has pages to repack (PostgreSQL's are fixed)")
    if not Path(parsed.database).is_file():  # sqlite3 would make an empty one
        raise RepackRefused(f"{parsed.database}: no such file")
    connection = sqlite3.connect(parsed.database, isolation_level=None, timeout=0)
    try:
        before = connection.execute("PRAGMA page_size").fetchone()[0]
        if before == page_size:
            return Repacked(before, before)
        try:
            mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError as exc:
            raise RepackRefused(f"the file is in use ({exc}): stop the centre first") from exc
        if mode != "delete":
            raise RepackRefused("the file is in use (it stays in WAL mode): stop the centre first")
        try:
            connection.execute(f"PRAGMA page_size={int(page_size)}")
            connection.execute("VACUUM")
        finally:
            connection.execute("PRAGMA journal_mode=WAL")
        return Repacked(before, connection.execute("PRAGMA page_size").fetchone()[0])
    finally:
        connection.close()
