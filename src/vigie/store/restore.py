"""Bringing back a backup of `vigie db backup` (`vigie db restore`), into an empty database only.

A restore never lands on a store that holds anything: a SQLite file must not exist yet, a
PostgreSQL database must have none of the centre's tables (it would mix two histories). SQLite's
copy is made beside its place, checked with ``PRAGMA integrity_check`` and linked into place
(0600); PostgreSQL's goes through ``pg_restore --single-transaction --exit-on-error``, all or
nothing, leaving out what belongs to PostGIS (the database's owner makes the extension). The
schema is then brought up to date, so a backup from an older release opens. What the backup's
audit chain ends with is returned: the command marks the restore in the audit checkpoints
(``anchor.mark_restore``), where it would otherwise read as a log cut short.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import URL, make_url

from vigie.store.audit import GENESIS
from vigie.store.backup import BackupRefused, libpq_env, staged
from vigie.store.database import create_store_engine
from vigie.store.models import AuditEntry, Base

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_DUMP_MAGIC = b"PGDMP"


class RestoreRefused(Exception):
    """Nothing was changed: the backup is not one, or the target is not empty."""


@dataclass(frozen=True, slots=True)
class Restored:
    kind: str  # "sqlite" or "pg_dump"
    head_id: int  # the backup's last audit entry (0: none)
    head_hash: str


def kind_of(source: Path) -> str:
    """The backup's kind, "sqlite" or "pg_dump", from its first bytes; RestoreRefused for any
    other file."""
    try:
        with source.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise RestoreRefused(f"{source}: cannot be read ({exc.strerror})") from exc
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PG_DUMP_MAGIC):
        return "pg_dump"
    raise RestoreRefused(f"{source}: not a backup of `vigie db backup` (SQLite or pg_dump custom)")


def restore(url: str, source: Path) -> Restored:
    """Fill the empty database at `url` from the backup `source`, check it, upgrade its schema."""
    from vigie.store.schema import upgrade

    parsed = make_url(url)
    kind = kind_of(source)
    backend = parsed.get_backend_name()
    if (backend, kind) == ("sqlite", "sqlite"):
        _known_schema(source, _sqlite_revisions(source))
        _into_sqlite(source, parsed)
    elif (backend, kind) == ("postgresql", "pg_dump"):
        _into_postgresql(source, parsed)
    else:
        raise RestoreRefused(f"a {kind} backup cannot be restored into a {backend} database")
    upgrade(url)
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            head = conn.execute(
                select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
            ).first()
    finally:
        engine.dispose()
    if head is None:
        return Restored(kind, 0, GENESIS)
    return Restored(kind, int(head.id), str(head.hash))


def _into_sqlite(source: Path, parsed: URL) -> None:
    target = Path(parsed.database or "")
    if not parsed.database or parsed.database == ":memory:":
        raise RestoreRefused("the database URL names no SQLite file")
    for path in (target, Path(f"{target}-wal")):
        if path.exists():
            raise RestoreRefused(
                f"{path} exists: a restore only fills an empty store (move the file aside)"
            )
    if not target.parent.is_dir():
        raise RestoreRefused(f"{target.parent}: no such directory")
    try:
        with staged(target) as partial:
            reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                writer = sqlite3.connect(partial)
                try:
                    reader.backup(writer)
                    checked = writer.execute("PRAGMA integrity_check").fetchall()
                finally:
                    writer.close()
            finally:
                reader.close()
            if checked != [("ok",)]:
                raise RestoreRefused(f"{source} fails SQLite's integrity check: {checked[:3]}")
    except sqlite3.Error as exc:
        raise RestoreRefused(f"{source}: cannot be read as SQLite ({exc})") from exc
    except BackupRefused as exc:  # the place was taken meanwhile
        raise RestoreRefused(str(exc)) from exc


def _into_postgresql(source: Path, parsed: URL) -> None:
    ours = set(Base.metadata.tables) | {"alembic_version"}
    engine = create_store_engine(parsed.render_as_string(hide_password=False))
    try:
        found = ours & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if found:
        raise RestoreRefused(
            f"the database {parsed.database} holds the centre's tables ({len(found)}, e.g. "
            f"{sorted(found)[0]}): a restore only fills an empty database"
        )
    listed = subprocess.run(
        ["pg_restore", "--list", str(source)], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0 or "TABLE DATA" not in listed.stdout:
        raise RestoreRefused(f"{source}: pg_restore cannot read it: {listed.stderr.strip()[:300]}")
    _known_schema(source, _dump_revisions(source))
    libpq = libpq_env(parsed)
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as chosen:
        chosen.write("\n".join(_ours(listed.stdout.splitlines())) + "\n")
        chosen.flush()
        done = subprocess.run(
            [
                "pg_restore",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                "--use-list",
                chosen.name,
                "--dbname",
                libpq["PGDATABASE"],
                str(source),
            ],
            capture_output=True,
            text=True,
            env=os.environ | libpq,
            check=False,
        )
    if done.returncode != 0:
        raise RestoreRefused(f"pg_restore (nothing kept): {done.stderr.strip()[:500]}")


def _known_schema(source: Path, revisions: set[str]) -> None:
    """Refuse, before anything is written, a backup whose schema this release cannot open: one
    a newer release migrated (restored, it would then be refused, leaving a target that is no
    longer empty), or one that is not of the centre's database."""
    from vigie.store.schema import known_revisions

    if not revisions:
        raise RestoreRefused(f"{source}: no schema revision in it: not the centre's database")
    unknown = revisions - known_revisions()
    if unknown:
        raise RestoreRefused(
            f"{source} is at schema revision {', '.join(sorted(unknown))}, which this Vigie does "
            "not know: a newer release took it. Restore it with that release"
        )


def _sqlite_revisions(source: Path) -> set[str]:
    try:
        reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            rows = reader.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            reader.close()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return set()
        raise RestoreRefused(f"{source}: cannot be read as SQLite ({exc})") from exc
    return {str(row[0]) for row in rows}


def _dump_revisions(source: Path) -> set[str]:
    """The revisions in the dump's ``alembic_version``: its data as pg_restore writes it, one
    ``COPY`` row a line (a revision id is a plain word: nothing in it is escaped)."""
    data = subprocess.run(
        ["pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if data.returncode != 0:
        raise RestoreRefused(f"{source}: pg_restore cannot read it: {data.stderr.strip()[:300]}")
    lines = data.stdout.splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith("COPY ")), None)
    if start is None:
        return set()
    rows: set[str] = set()
    for line in lines[start + 1 :]:
        if line == "\\.":
            return rows
        rows.add(line)
    raise RestoreRefused(f"{source}: its schema revision cannot be read (alembic_version)")


# What the dump holds of PostGIS's own, which only the extension's owner may set: its comment and
# its table of reference systems (the extension makes those rows). Where a DBA made the database
# and its PostGIS (docs/production-postgresql.md), the centre's account is not that owner, and
# either undid the whole restore.
_EXTENSION_OWNED = (
    re.compile(r"\bCOMMENT - EXTENSION "),
    re.compile(r"\bTABLE DATA \S+ spatial_ref_sys\b"),
)


def _ours(listed: list[str]) -> list[str]:
    """The archive's table of contents without what belongs to PostGIS (`pg_restore --list`)."""
    return [line for line in listed if not any(p.search(line) for p in _EXTENSION_OWNED)]
