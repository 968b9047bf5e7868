"""`vigie db`: the store's schema and retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from vigie import clock

# The store and settings are imported inside each command: loading SQLAlchemy for every `vigie`
# call (a law assessment, a replay) would cost most of their start-up time.
app = typer.Typer(
    help="The database: schema migrations, retention, SQLite's pages.", no_args_is_help=True
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


@app.command("purge-locations")
def purge_locations(
    older_than: Annotated[int, typer.Option("--older-than", min=1, help="retention in days")],
) -> None:
    """Delete position fixes older than the retention period; the purge itself is audited."""
    from vigie.settings import settings
    from vigie.store import audit, open_database
    from vigie.store import observations as log

    database = open_database(settings().database_url)
    cutoff = clock.now() - timedelta(days=older_than)
    what = {"older_than_days": older_than, "cutoff": cutoff.isoformat()}
    try:
        # The purge commits batch by batch (`observations.purge_locations`): audited before
        # its first, so that a purge stopped half-way is on record too, and with its count after.
        with database.session() as session:
            audit.record(session, "system", "purge_locations_started", "observations", what)
        purged = log.purge_locations(database, cutoff)
        with database.session() as session:
            audit.record(
                session, "system", "purge_locations", "observations", what | {"purged": purged}
            )
    finally:
        database.dispose()
    typer.echo(f"purged {purged} position fixes older than {cutoff:%Y-%m-%d %H:%M} UTC")
