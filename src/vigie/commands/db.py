"""`vigie db`: the store's schema and retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigie import clock

if TYPE_CHECKING:
    from vigie.store import Database
    from vigie.store.purges import UnfinishedPurge

# The store and settings are imported inside each command: loading SQLAlchemy for every `vigie`
# call (a law assessment, a replay) would cost most of their start-up time.
app = typer.Typer(
    help="The database: schema migrations, backups, retention, SQLite's pages.",
    no_args_is_help=True,
)


@app.command()
def upgrade() -> None:
    """Create or migrate the schema of the database named by VIGIE_DATABASE_URL."""
    from vigie.settings import settings
    from vigie.store import open_database
    from vigie.store.schema import upgrade as upgrade_schema

    url = settings().database_url
    upgrade_schema(url)
    typer.echo(f"schema up to date: {open_database(url).engine.url.render_as_string()}")


@app.command()
def repack() -> None:
    """SQLite: rewrite the file with the pages a new file gets (1 KB, fewer bytes written a
    commit). Stop the centre first; needs free disk of about the file's size."""
    from vigie.settings import settings
    from vigie.store.repack import RepackRefused
    from vigie.store.repack import repack as repack_file

    try:
        done = repack_file(settings().database_url)
    except RepackRefused as exc:
        typer.echo(f"not repacked: {exc}", err=True)
        raise typer.Exit(2) from exc
    if done.before == done.after:
        typer.echo(f"nothing to do: the file's pages are already {done.after} bytes")
    else:
        typer.echo(f"repacked: pages of {done.before} bytes are now {done.after}")


@app.command()
def backup(
    destination: Annotated[Path, typer.Argument(help="the backup file to write (a new file)")],
) -> None:
    """A checked backup while the centre runs: SQLite's online copy (then its integrity check)
    or PostgreSQL's pg_dump (custom format, then pg_restore --list); 0600, never over a file.
    Audited."""
    from vigie.settings import settings
    from vigie.store import audit, open_database
    from vigie.store.backup import BackupFailed, BackupRefused
    from vigie.store.backup import backup as write_backup

    url = settings().database_url
    try:
        done = write_backup(url, destination)
    except BackupRefused as exc:
        typer.echo(f"no backup: {exc}", err=True)
        raise typer.Exit(2) from exc
    except BackupFailed as exc:
        typer.echo(f"backup failed, nothing kept: {exc}", err=True)
        raise typer.Exit(1) from exc
    database = open_database(url)
    try:
        with database.session() as session:
            what = {"file": str(done.path.resolve()), "bytes": done.bytes, "kind": done.kind}
            audit.record(session, "system", "db_backup", "database", what)
    finally:
        database.dispose()
    typer.echo(f"backed up to {done.path} ({done.bytes:,} bytes, {done.kind}, checked)")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="a file written by `vigie db backup`")],
) -> None:
    """Bring a backup back into the empty database of VIGIE_DATABASE_URL (a SQLite file that
    does not exist yet, a PostgreSQL database without the centre's tables): checked, its schema
    upgraded, the restore marked in the audit checkpoints and audited. Stop the centre first."""
    import hashlib

    from vigie.settings import settings
    from vigie.store import anchor, audit, open_database
    from vigie.store.restore import RestoreRefused
    from vigie.store.restore import restore as restore_backup

    config = settings()
    key = anchor.key_of(config)
    checkpoints = Path(config.audit_anchor_file)
    if key is not None:  # a restore line under another key would read as forged
        try:
            anchor.check_signed(key, checkpoints)
        except anchor.AnchorError as exc:
            typer.echo(f"not restored: {checkpoints}: {exc} (the centre's audit key?)", err=True)
            raise typer.Exit(2) from exc
        try:
            anchor.writable(checkpoints)  # the restore's line must follow it
        except anchor.AnchorError as exc:
            typer.echo(f"not restored: {exc}", err=True)
            raise typer.Exit(2) from exc
    try:
        done = restore_backup(config.database_url, source)
    except RestoreRefused as exc:
        typer.echo(f"not restored: {exc}", err=True)
        raise typer.Exit(2) from exc
    digest = hashlib.sha256()
    with source.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    what: dict[str, Any] = {
        "file": str(source.resolve()),
        "sha256": digest.hexdigest(),
        "kind": done.kind,
        "back_to_entry": done.head_id,
    }
    if key is not None:  # before the entry below: the chain is cut back to the backup's head
        anchor.mark_restore(key, checkpoints, clock.now(), done.head_id, done.head_hash)
    database = open_database(config.database_url)
    try:
        with database.session() as session:
            recorded = audit.record(session, "system", "db_restore", "database", what).id
        if key is not None:
            with database.reading() as session:
                anchor.checkpoint(session, key, checkpoints, clock.now())
    finally:
        database.dispose()
    typer.echo(
        f"restored from {source} ({done.kind}, checked): its audit log ended at entry "
        f"{done.head_id}; the restore is entry {recorded}"
    )
    if key is None:
        typer.echo("no audit key: the restore is not marked in the audit checkpoints", err=True)


# `vigie db purge-locations` refused because another purge runs: EX_TEMPFAIL of sysexits.h, "try
# again later", apart from a failure (1) and a wrong option (2), so that a scheduler tells them.
ALREADY_RUNNING = 75


@app.command("purge-locations")
def purge_locations(
    older_than: Annotated[int, typer.Option("--older-than", min=1, help="retention in days")],
) -> None:
    """Delete position fixes older than the retention period; the purge itself is audited, and
    a previous purge that never ended is reported (and audited) before this one starts. One
    purge at a time: while another runs, this one is refused (audited) and exits 75."""
    from vigie.settings import settings
    from vigie.store import open_database, purges

    database = open_database(settings().database_url)
    cutoff = clock.now() - timedelta(days=older_than)
    what: dict[str, Any] = {"older_than_days": older_than, "cutoff": cutoff.isoformat()}
    try:
        # Before anything is read: a second purge would take the first's start for one that
        # died, and both would delete at once.
        with purges.held(database):
            purged = _purge(database, cutoff, what)
    except purges.AlreadyRunning:
        typer.echo(_refusal(database, what), err=True)
        raise typer.Exit(ALREADY_RUNNING) from None
    finally:
        database.dispose()
    typer.echo(f"purged {purged} position fixes older than {cutoff:%Y-%m-%d %H:%M} UTC")


def _purge(database: Database, cutoff: datetime, what: dict[str, Any]) -> int:
    """The purge, its lock held: the previous one reported, this one audited from start to end."""
    from vigie.store import audit, purges
    from vigie.store import observations as log

    purged = 0

    def so_far(count: int) -> None:
        nonlocal purged
        purged = count

    # The purge commits batch by batch (`observations.purge_locations`): audited before its
    # first, so that a purge stopped half-way is on record too, and with its count after.
    with database.session() as session:
        previous = purges.unfinished(session, holding=True)
        if previous is not None:
            typer.echo(_unfinished_warning(previous), err=True)
        if previous is not None and previous.state == "interrupted":
            audit.record(
                session,
                "system",
                purges.INTERRUPTED,
                "observations",
                {
                    "started_entry": previous.entry_id,
                    "started_at": previous.started_at.isoformat(),
                    "cutoff": previous.cutoff,
                    "older_than_days": previous.older_than_days,
                },
            )
        started = audit.record(session, "system", purges.STARTED, "observations", what)
    what["started_entry"] = started.id
    try:
        purged = log.purge_locations(database, cutoff, progress=so_far)
    except Exception as exc:
        _audit_failure(database, what, exc, purged)
        typer.echo(
            f"purge failed after {purged} position fixes deleted:"
            f" {type(exc).__name__}: {exc}; run it again",
            err=True,
        )
        raise typer.Exit(1) from exc
    with database.session() as session:
        audit.record(session, "system", purges.ENDED, "observations", what | {"purged": purged})
    return purged


def _refusal(database: Database, what: dict[str, Any]) -> str:
    """Audit this run's refusal, and say what the person is to do: the purge running, since
    when (its start mark, once written)."""
    from vigie.store import audit, purges

    with database.session() as session:
        last = purges.unfinished(session)
        # None too while the purge running has not written its start yet.
        running = last if last is not None and last.state == "running" else None
        audit.record(
            session,
            "system",
            purges.REFUSED,
            "observations",
            what
            | {
                "running_entry": running.entry_id if running else None,
                "running_since": running.started_at.isoformat() if running else None,
            },
        )
    since = (
        f" since {running.started_at:%Y-%m-%d %H:%M} UTC, deleting fixes older than"
        f" {running.cutoff}"
        if running is not None
        else ""
    )
    return (
        f"not purged: a purge of locations is already running{since}, in another process;"
        " run this one again once it has ended"
    )


def _unfinished_warning(previous: UnfinishedPurge) -> str:
    """What a person running the purge is told of the previous one, which did not end well."""
    begun = f"{previous.started_at:%Y-%m-%d %H:%M} UTC"
    cutoff = f"fixes older than {previous.cutoff}" if previous.cutoff else "an unknown cutoff"
    if previous.state == "failed":
        return f"warning: the previous purge (started {begun}, {cutoff}) failed: {previous.error}"
    return (
        f"warning: the previous purge (started {begun}, {cutoff}) never ended: it was"
        " interrupted; this one deletes what it left"
    )


def _audit_failure(database: Database, what: dict[str, Any], exc: Exception, purged: int) -> None:
    """Close the purge's record with its failure, if the database takes it; if not, its start
    stays unfinished, which the next run and `/api/health` report."""
    from vigie.store import audit, purges

    failure = what | {
        "error_type": type(exc).__name__,
        "error": str(exc)[:500],
        "purged_before_failure": purged,
    }
    try:
        with database.session() as session:
            audit.record(session, "system", purges.FAILED, "observations", failure)
    except Exception as unaudited:  # reported, and the start left open says the rest
        typer.echo(
            f"the failure could not be audited ({type(unaudited).__name__}: {unaudited}):"
            " the next run will report this purge as unfinished",
            err=True,
        )
