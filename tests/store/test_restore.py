"""`vigie db restore`: last night's backup brought back into an empty store, on both databases;
the audit checkpoints say what the restore lost instead of reading as a log cut short, and a
store that holds anything is never restored over."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from tests.conftest import fresh_database
from vigie.cli import app
from vigie.settings import settings
from vigie.store import Database, audit, open_database
from vigie.store.models import AuditEntry

KEY = b"an audit key kept in the vault, never in the database"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """`vigie` in-process on the database `url`, with the centre's audit key and checkpoints."""
    monkeypatch.setenv("VIGIE_AUDIT_KEY", KEY.decode())
    monkeypatch.setenv("VIGIE_AUDIT_ANCHOR_FILE", str(tmp_path / "anchors.jsonl"))
    runner = CliRunner()

    def invoke(url: str, *args: str) -> Result:
        monkeypatch.setenv("VIGIE_DATABASE_URL", url)
        settings.cache_clear()
        return runner.invoke(app, list(args))

    yield invoke
    settings.cache_clear()


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> Iterator[str]:
    """Where the backup goes back: a SQLite file not yet there, or a database with no schema."""
    if db.is_sqlite:
        yield f"sqlite:///{tmp_path / 'restored.sqlite'}"
        return
    with fresh_database(request, "postgresql", tmp_path, migrated=False) as url:
        yield url


def record(db: Database, n: int, what: str) -> list[int]:
    with db.session() as session:
        return [audit.record(session, "ops", "read", f"{what}:{i}").id for i in range(n)]


def test_a_backup_restored_into_an_empty_store_is_marked_in_the_checkpoints(
    db: Database,
    database_url: str,
    empty_url: str,
    run: Callable[..., Result],
    tmp_path: Path,
) -> None:
    before = record(db, 5, "case")
    backup = tmp_path / "nightly.backup"
    assert run(database_url, "db", "backup", str(backup)).exit_code == 0
    assert run(database_url, "audit", "checkpoint").exit_code == 0
    lost = record(db, 4, "alarm")  # the day after the backup, then the store is lost
    assert run(database_url, "audit", "checkpoint").exit_code == 0

    restored = run(empty_url, "db", "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    copy = open_database(empty_url)
    try:
        with copy.session() as session:
            entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
            assert audit.verify(session)[1] is None
        head = entries[-2]  # the backup's last entry, then the restore's
        assert [e.target for e in entries[:-1]] == [f"case:{i}" for i in range(5)]
        assert head.id == before[-1]  # the backup's own entry came after it, as the rest did
        mark = entries[-1]
        assert (mark.actor, mark.action) == ("system", "db_restore")
        assert mark.detail["back_to_entry"] == head.id
        assert mark.detail["sha256"] == hashlib.sha256(backup.read_bytes()).hexdigest()
        assert f"ended at entry {head.id}; the restore is entry {mark.id}" in restored.output
        reused = record(copy, 6, "after")  # new entries take the ids the lost ones had
        assert set(reused) & set(lost)
    finally:
        copy.dispose()
    if copy.is_sqlite:
        assert Path(copy.engine.url.database or "").stat().st_mode & 0o777 == 0o600
    assert run(empty_url, "audit", "checkpoint").exit_code == 0

    verified = run(empty_url, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert f"the chain went back to entry {head.id}" in verified.output
    # Both checkpoints written after the backup (its db_backup entry, then the day's) went
    # with the restore: said so, not read as a log cut short.
    assert f"2 checkpoints beyond it were lost with the restore (up to entry {lost[-1]})" in (
        verified.output
    )


def test_a_store_that_holds_anything_is_never_restored_over(
    db: Database, database_url: str, run: Callable[..., Result], tmp_path: Path
) -> None:
    record(db, 3, "case")
    backup = tmp_path / "nightly.backup"
    assert run(database_url, "db", "backup", str(backup)).exit_code == 0
    record(db, 2, "alarm")
    with db.session() as session:
        count = session.scalar(select(func.count()).select_from(AuditEntry))

    over = run(database_url, "db", "restore", str(backup))
    assert over.exit_code == 2, over.output
    assert "not restored" in over.output and "empty" in over.output
    not_one = tmp_path / "notes.txt"
    not_one.write_text("not a backup")
    assert (
        "not a backup of `vigie db backup`"
        in run(database_url, "db", "restore", str(not_one)).output
    )
    missing = run(database_url, "db", "restore", str(tmp_path / "no-such.backup"))
    assert missing.exit_code == 2 and "cannot be read" in missing.output
    with db.session() as session:  # nothing changed, nothing recorded
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == count


def test_a_backup_goes_back_only_into_its_own_kind_of_database(
    db: Database, database_url: str, run: Callable[..., Result], tmp_path: Path
) -> None:
    backup = tmp_path / "nightly.backup"
    assert run(database_url, "db", "backup", str(backup)).exit_code == 0
    other = (
        "postgresql+psycopg://nobody@127.0.0.1:1/none"
        if db.is_sqlite
        else f"sqlite:///{tmp_path / 'restored.sqlite'}"
    )
    refused = run(other, "db", "restore", str(backup))
    assert refused.exit_code == 2, refused.output
    kind = "sqlite" if db.is_sqlite else "pg_dump"
    assert f"a {kind} backup cannot be restored into a" in refused.output
    assert not (tmp_path / "restored.sqlite").exists()


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        # The checkpoints are the centre's key's: a restore line under another would read as
        # forged (another centre's key, a typo).
        ("VIGIE_AUDIT_KEY", "another centre's key, not this one's", "not signed by the audit key"),
        # The restore's line must follow the restore: a file that cannot take it stops it first.
        (
            "VIGIE_AUDIT_ANCHOR_FILE",
            "/proc/vigie/anchors.jsonl",
            "not restored: /proc/vigie/anchors.jsonl: cannot be written",
        ),
    ],
)
def test_a_restore_whose_checkpoint_line_cannot_follow_it_restores_nothing(
    db: Database,
    database_url: str,
    empty_url: str,
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setting: str,
    value: str,
    said: str,
) -> None:
    record(db, 3, "case")
    backup = tmp_path / "nightly.backup"
    assert run(database_url, "db", "backup", str(backup)).exit_code == 0
    assert run(database_url, "audit", "checkpoint").exit_code == 0
    checkpoints = (tmp_path / "anchors.jsonl").read_text()
    monkeypatch.setenv(setting, value)
    refused = run(empty_url, "db", "restore", str(backup))
    assert refused.exit_code == 2, refused.output
    assert said in refused.output
    assert (tmp_path / "anchors.jsonl").read_text() == checkpoints
    assert_still_empty(db, empty_url, tmp_path)


def assert_still_empty(db: Database, empty_url: str, tmp_path: Path) -> None:
    """Nothing was written where the backup would have gone."""
    if db.is_sqlite:
        assert not (tmp_path / "restored.sqlite").exists()
        return
    from sqlalchemy import create_engine, inspect

    engine = create_engine(empty_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        # Software rolled back: restored, the backup would then be refused (SchemaAhead), and
        # the target, no longer empty, would refuse the next try too.
        (
            "UPDATE alembic_version SET version_num = 'f00dfeedbeef'",
            "schema revision f00dfeedbeef, which this Vigie does not know",
        ),
        ("DROP TABLE alembic_version", "no schema revision in it"),
    ],
)
def test_a_backup_this_release_cannot_open_is_refused_before_anything_is_written(
    db: Database,
    database_url: str,
    empty_url: str,
    run: Callable[..., Result],
    tmp_path: Path,
    change: str,
    said: str,
) -> None:
    from sqlalchemy import text

    from vigie.store.backup import backup as write_backup

    record(db, 3, "case")
    with db.engine.begin() as conn:
        conn.execute(text(change))
    backup = write_backup(database_url, tmp_path / "nightly.backup").path
    refused = run(empty_url, "db", "restore", str(backup))
    assert refused.exit_code == 2, refused.output
    assert said in refused.output
    assert_still_empty(db, empty_url, tmp_path)


def test_the_centre_account_restores_into_the_database_its_dba_made(
    request: pytest.FixtureRequest, pg_url: str, run: Callable[..., Result], tmp_path: Path
) -> None:
    """Production's way (docs/production-postgresql.md): the centre's account is not a
    superuser, and the DBA made the new database and its PostGIS. The dump's comment on that
    extension, which only its owner may set, must not undo the whole restore."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    source = open_database(pg_url)
    try:
        record(source, 3, "case")
    finally:
        source.dispose()
    backup = tmp_path / "nightly.backup"
    assert run(pg_url, "db", "backup", str(backup)).exit_code == 0
    base = make_url(request.getfixturevalue("postgres_server"))
    name, role = f"restored_{uuid.uuid4().hex[:10]}", f"centre_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"CREATE DATABASE {name} OWNER {role}"))
    dba = create_engine(base.set(database=name), isolation_level="AUTOCOMMIT")
    with dba.connect() as conn:
        conn.execute(text("CREATE EXTENSION postgis"))
    dba.dispose()
    try:
        target = base.set(username=role, database=name).render_as_string(hide_password=False)
        restored = run(target, "db", "restore", str(backup))
        assert restored.exit_code == 0, restored.output
        copy = open_database(target)
        try:
            with copy.session() as session:
                targets = session.scalars(select(AuditEntry.target).order_by(AuditEntry.id))
                assert [t for t in targets if t.startswith("case:")] == [
                    "case:0",
                    "case:1",
                    "case:2",
                ]
        finally:
            copy.dispose()
        # And the next night's backup, by the same account.
        again = run(target, "db", "backup", str(tmp_path / "next.backup"))
        assert again.exit_code == 0, again.output
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_an_older_release_backup_is_restored_and_brought_up_to_date(
    request: pytest.FixtureRequest,
    db: Database,
    empty_url: str,
    run: Callable[..., Result],
    tmp_path: Path,
) -> None:
    from alembic.script import ScriptDirectory

    from vigie.store.backup import backup as write_backup
    from vigie.store.schema import alembic_config, current_heads, upgrade

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    (head,) = scripts.get_heads()
    older = scripts.get_revision(head).down_revision
    assert isinstance(older, str)
    backend = "sqlite" if db.is_sqlite else "postgresql"
    with fresh_database(request, backend, tmp_path / "old", migrated=False) as old_url:
        upgrade(old_url, older)
        backup = write_backup(old_url, tmp_path / "last-year.backup").path
    restored = run(empty_url, "db", "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert current_heads(empty_url) == {head}
