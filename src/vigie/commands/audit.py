"""`vigie audit`: check that the audit log's hash chain is intact."""

from __future__ import annotations

import typer

app = typer.Typer(help="The audit log.", no_args_is_help=True)


@app.command()
def verify() -> None:
    """Exit 0 when the chain is intact, 1 naming the first broken entry."""
    # Imported here, as in `vigie db`: other commands need not load the store.
    from vigie.settings import settings
    from vigie.store import audit, open_database

    database = open_database(settings().database_url)
    try:
        with database.session() as session:
            checked, breach = audit.verify(session)
    finally:
        database.dispose()
    if breach is None:
        typer.echo(f"audit log intact: {checked} entries verified")
        return
    where = "the chain head" if breach.entry_id < 0 else f"entry {breach.entry_id}"
    typer.echo(
        f"audit log BROKEN at {where}: {breach.reason} ({checked} entries before it verified)",
        err=True,
    )
    raise typer.Exit(1)
