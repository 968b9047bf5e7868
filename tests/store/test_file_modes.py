"""The SQLite files hold people's positions and addresses: only their owner may read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from vigie.store import open_database
from vigie.store.schema import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_its_wal_files_are_created_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, which would make them 0644
    try:
        path = tmp_path / "new" / "vigie.sqlite"
        upgrade(f"sqlite:///{path}")
        database = open_database(f"sqlite:///{path}")
        with database.session() as session:
            session.execute(
                text(
                    "INSERT INTO devices (id, kind, created_at)"
                    " VALUES ('B1', 'bracelet', '2026-01-01')"
                )
            )
            files = {p.name: mode(p) for p in path.parent.iterdir()}
        database.dispose()
    finally:
        os.umask(previous)
    assert files == {"vigie.sqlite": 0o600, "vigie.sqlite-wal": 0o600, "vigie.sqlite-shm": 0o600}


def test_files_left_readable_by_an_earlier_version_are_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "vigie.sqlite"
    upgrade(f"sqlite:///{path}")
    for file in (path, path.with_name("vigie.sqlite-wal"), path.with_name("vigie.sqlite-shm")):
        file.touch()
        file.chmod(0o644)
    database = open_database(f"sqlite:///{path}")
    with database.session() as session:
        session.execute(text("SELECT 1"))
        files = {p.name: mode(p) for p in tmp_path.iterdir()}
    database.dispose()
    assert files == {
        "vigie.sqlite": 0o600,
        "vigie.sqlite-wal": 0o600,
        "vigie.sqlite-shm": 0o600,
    }
