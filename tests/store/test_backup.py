"""`vigie db backup`: a backup taken while the centre writes, that restores to a store whose
audit chain holds, on both databases; private, never over a file, audited."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from typer.testing import Result

from tests.store.test_commands import vigie  # noqa: F401 (the fixture)
from vigie.store import Database, audit, open_database
from vigie.store.backup import backup
from vigie.store.models import AuditEntry


@contextmanager
def restored(request: pytest.FixtureRequest, db: Database, backup: Path) -> Iterator[Database]:
    """The backup brought back as a database of its own: the SQLite file itself, or a new
    PostgreSQL database that pg_restore fills (dropped after)."""
    if db.is_sqlite:
        copy = open_database(f"sqlite:///{backup}")
        yield copy
        copy.dispose()
        return
    base = request.getfixturevalue("postgres_server")
    name = f"restored_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = f"{base}/{name}".replace("postgresql+psycopg", "postgresql")
        subprocess.run(["pg_restore", "--dbname", url, str(backup)], check=True)
        copy = open_database(f"{base}/{name}")
        yield copy
        copy.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def entries(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_a_backup_taken_while_the_centre_writes_restores_whole(
    request: pytest.FixtureRequest,
    db: Database,
    vigie: Callable[..., Result],  # noqa: F811
    tmp_path: Path,
) -> None:
    with db.session() as session:
        for i in range(50):
            audit.record(session, "ops", "read", f"case:{i}")
    stop = threading.Event()

    def writing() -> None:  # one audited read a commit, as a console does, all along
        n = 0
        while not stop.is_set():
            with db.session() as session:
                audit.record(session, "ops", "read", f"alarm:{n}")
            n += 1

    writer = threading.Thread(target=writing)
    writer.start()
    try:
        backup = tmp_path / "vigie.backup"
        result = vigie("db", "backup", str(backup))
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert "checked" in result.output
    assert backup.stat().st_mode & 0o777 == 0o600  # her address is in it
    assert not list(tmp_path.glob(".*partial"))
    with restored(request, db, backup) as copy:
        taken = entries(copy)
        assert 50 <= taken < entries(db)  # a snapshot: all before it, what came after missing
        with copy.session() as session:
            assert audit.verify(session)[1] is None  # every entry and link whole: not torn
    with db.session() as session:
        (recorded,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "db_backup"))
    assert recorded.actor == "system"
    assert recorded.detail["bytes"] == backup.stat().st_size
    assert recorded.detail["file"] == str(backup.resolve())


def test_a_backup_never_overwrites_a_file(
    db: Database,
    vigie: Callable[..., Result],  # noqa: F811
    tmp_path: Path,
) -> None:
    kept = tmp_path / "yesterday.backup"
    kept.write_bytes(b"yesterday's backup")
    before = entries(db)
    result = vigie("db", "backup", str(kept))
    assert result.exit_code == 2
    assert "never overwrites" in result.output
    assert kept.read_bytes() == b"yesterday's backup"
    missing = vigie("db", "backup", str(tmp_path / "no" / "such" / "folder.backup"))
    assert missing.exit_code == 2
    assert "no such directory" in missing.output
    unwritable = vigie("db", "backup", "/proc/vigie.backup")  # a folder no file can be made in
    assert unwritable.exit_code == 2
    assert "/proc: cannot write there" in unwritable.output
    assert entries(db) == before  # nothing backed up, nothing recorded as one


def test_a_backup_of_the_production_url_with_several_hosts(pg_url: str, tmp_path: Path) -> None:
    """The production URL names the primary and its standby (SQLAlchemy's `?host=h:p&host=h:p`,
    which libpq does not read as such): pg_dump is given them as libpq's host and port lists and
    dumps from the one accepting writes."""
    parsed = make_url(pg_url)
    address = f"{parsed.host}:{parsed.port}"
    several = (
        f"postgresql+psycopg://{parsed.username}@/{parsed.database}?host={address}"
        f"&host={address}&target_session_attrs=read-write&connect_timeout=2"
    )
    done = backup(several, tmp_path / "vigie.backup")
    assert done.kind == "pg_dump" and done.bytes > 0
    listed = subprocess.run(
        ["pg_restore", "--list", str(done.path)], capture_output=True, text=True, check=True
    )
    assert "TABLE DATA public audit_log" in listed.stdout
