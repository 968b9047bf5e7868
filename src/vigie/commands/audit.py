"""`vigie audit`: check that the audit log's hash chain is intact and matches its checkpoints."""

from __future__ import annotations

import typer

app = typer.Typer(help="The audit log.", no_args_is_help=True)


@app.command()
def verify() -> None:
    """Exit 0 when the chain is intact and every checkpoint matches, 1 naming the first breach."""
    # Imported here, as in `vigie db`: other commands need not load the store.
    from pathlib import Path

    from vigie.settings import settings
    from vigie.store import anchor, audit, open_database

    config = settings()
    key = anchor.key_of(config)
    database = open_database(config.database_url)
    try:
        with database.session() as session:
            checked, breach = audit.verify(session)
            try:
                found = (
                    anchor.verify(session, key, Path(config.audit_anchor_file))
                    if key is not None and breach is None
                    else anchor.Verified([], [])
                )
            except anchor.AnchorError as exc:
                typer.echo(f"audit log BROKEN: {exc}", err=True)
                raise typer.Exit(1) from exc
    finally:
        database.dispose()
    if breach is not None:
        where = "the chain head" if breach.entry_id < 0 else f"entry {breach.entry_id}"
        typer.echo(
            f"audit log BROKEN at {where}: {breach.reason} ({checked} entries before it verified)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {checked} entries verified")
    if key is None:
        typer.echo(
            "not anchored: set VIGIE_AUDIT_KEY (or VIGIE_AUDIT_KEY_FILE) so that a rewritten or "
            "truncated chain is caught",
            err=True,
        )
    elif found.held:
        last = found.held[-1]
        typer.echo(
            f"{len(found.held)} checkpoints match (the latest: entry {last.entry_id} at {last.at})"
        )
        for restore in found.restores:
            gone = restore.lost
            typer.echo(
                f"restored from a backup at {restore.line.at}: the chain went back to entry "
                f"{restore.line.entry_id}"
                + (
                    f"; {len(gone)} checkpoints beyond it were lost with the restore (up to "
                    f"entry {max(a.entry_id for a in gone)})"
                    if gone
                    else ""
                ),
                err=True,
            )
    else:
        typer.echo(f"no checkpoint yet in {config.audit_anchor_file}", err=True)


@app.command()
def checkpoint() -> None:
    """Write the chain's head to the checkpoint file now (the centre does so at intervals)."""
    from pathlib import Path

    from vigie import clock
    from vigie.settings import settings
    from vigie.store import anchor, open_database

    config = settings()
    key = anchor.key_of(config)
    if key is None:
        typer.echo("VIGIE_AUDIT_KEY (or VIGIE_AUDIT_KEY_FILE) is not set", err=True)
        raise typer.Exit(2)
    database = open_database(config.database_url)
    try:
        with database.reading() as session:
            written = anchor.checkpoint(session, key, Path(config.audit_anchor_file), clock.now())
    except anchor.AnchorError as exc:
        typer.echo(f"no checkpoint written: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    if written is None:
        typer.echo("nothing new to checkpoint")
    else:
        typer.echo(f"checkpoint: entry {written.entry_id} ({written.hash[:12]}…)")
