"""A backup of the store taken while the centre runs, checked before it is called one.

A copy of a live SQLite file (``cp`` of the file, its WAL beside it) can be torn: pages from
before and after a commit. SQLite's online backup reads every page in one read transaction, a
consistent snapshot that does not stop the centre's writers (WAL mode); the copy is then made a
standalone file (no WAL) and checked with ``PRAGMA integrity_check``. On PostgreSQL the backup
is ``pg_dump``'s custom format (one consistent snapshot as well), checked by ``pg_restore
--list``; a standby is no backup (a deletion reaches it at once), and continuous archiving is
the recipe of ``docs/production-postgresql.md``.

The file holds everything the centre knows, protected persons' addresses included: it is
written 0600 under a temporary name and renamed into place only once checked, never over an
existing file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupRefused(Exception):
    """Nothing was written: the destination exists, or the database cannot be read."""


class BackupFailed(Exception):
    """The copy was made but did not check out; it was removed."""


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    bytes: int
    kind: str  # "sqlite" or "pg_dump"


def backup(url: str, destination: Path) -> Backup:
    """Write a checked backup of the database at `url` to `destination` (a new file)."""
    parsed = make_url(url)
    if destination.exists():
        raise BackupRefused(f"{destination} exists: a backup never overwrites a file")
    if not destination.parent.is_dir():
        raise BackupRefused(f"{destination.parent}: no such directory")
    if parsed.get_backend_name() == "sqlite":
        source = parsed.database
        if not source or not Path(source).is_file():  # sqlite3 would make an empty one
            raise BackupRefused(f"{source or 'an in-memory database'}: no such file")
        with staged(destination) as partial:
            _sqlite_copy(Path(source), partial)
        kind = "sqlite"
    elif parsed.get_backend_name() == "postgresql":
        with staged(destination) as partial:
            _pg_dump(libpq_env(parsed), partial)
        kind = "pg_dump"
    else:
        raise BackupRefused(f"no backup for a {parsed.get_backend_name()} database")
    return Backup(destination, destination.stat().st_size, kind)


@contextmanager
def staged(destination: Path) -> Iterator[Path]:
    """A private file beside `destination`, linked into place once the block has checked it;
    removed either way."""
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupRefused(f"{partial} exists: another copy is being written there") from None
    except OSError as exc:  # a folder one may not write in, a read-only or special one
        raise BackupRefused(f"{destination.parent}: cannot write there ({exc.strerror})") from None
    try:
        yield partial
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        try:
            os.link(partial, destination)  # fails, where a rename would replace, if one came
        except FileExistsError:
            raise BackupRefused(f"{destination} appeared meanwhile: never written over") from None
    finally:
        partial.unlink(missing_ok=True)


def _sqlite_copy(source: Path, partial: Path) -> None:
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer)  # every page at once: one read transaction, one snapshot
            writer.execute("PRAGMA journal_mode=DELETE")  # one file, no WAL beside it
            checked = writer.execute("PRAGMA integrity_check").fetchall()
        finally:
            writer.close()
    except sqlite3.Error as exc:
        raise BackupRefused(f"{source}: cannot be read ({exc})") from exc
    finally:
        reader.close()
    if checked != [("ok",)]:
        raise BackupFailed(f"the copy failed SQLite's integrity check: {checked[:3]}")


# libpq's environment for the URL's query parameters that pg_dump must honour.
_LIBPQ_QUERY = {
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
}


def libpq_env(parsed: URL) -> dict[str, str]:
    """The centre's URL as libpq's environment, for pg_dump: the password not on a command line
    others can read, and the production URL's several hosts (``?host=h1:p1&host=h2:p2``,
    SQLAlchemy's form, which libpq does not read) as PGHOST and PGPORT lists, so that the dump
    is taken from whichever is the primary."""
    env = {"PGCONNECT_TIMEOUT": "10", "PGDATABASE": parsed.database or "postgres"}
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    query = parsed.query.get("host")
    listed = [query] if isinstance(query, str) else list(query or ())
    if parsed.host:
        listed.insert(0, f"{parsed.host}:{parsed.port or 5432}")
    if listed:
        pairs = [e.rpartition(":") if ":" in e else (e, ":", "5432") for e in listed]
        env["PGHOST"] = ",".join(host.strip("[]") for host, _, _ in pairs)  # [::1] is ::1
        env["PGPORT"] = ",".join(port or "5432" for _, _, port in pairs)
    for name, variable in _LIBPQ_QUERY.items():
        value = parsed.query.get(name)
        if isinstance(value, str):
            env[variable] = value
    return env


def _pg_dump(libpq: dict[str, str], partial: Path) -> None:
    env = os.environ | libpq  # the rest of libpq's environment, as the centre's driver reads it
    try:
        dumped = subprocess.run(
            ["pg_dump", "--format=custom", "--file", str(partial)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise BackupRefused("pg_dump is not installed (Debian: postgresql-client)") from None
    if dumped.returncode != 0:
        raise BackupRefused(f"pg_dump: {dumped.stderr.strip() or dumped.returncode}")
    listed = subprocess.run(
        ["pg_restore", "--list", str(partial)], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0 or "TABLE DATA" not in listed.stdout:
        raise BackupFailed(f"pg_restore cannot read the dump: {listed.stderr.strip()[:300]}")
