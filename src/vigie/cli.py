"""The `vigie` command: one Typer app, each sub-command in `vigie.commands`."""

import typer

from vigie.commands import audit as audit_cmd
from vigie.commands import centre as centre_cmd
from vigie.commands import cluster as cluster_cmd
from vigie.commands import db as db_cmd
from vigie.commands import export as export_cmd
from vigie.commands import law as law_cmd
from vigie.commands import replay as replay_cmd
from vigie.commands import sim as sim_cmd

app = typer.Typer(
    name="vigie",
    help="Vigie: judicial electronic monitoring under French law.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Sub-commands register here, one line each (see vigie/commands/).
app.add_typer(law_cmd.app, name="law")
app.command("replay")(replay_cmd.replay)
app.add_typer(sim_cmd.app, name="sim")
from vigie.commands import gateway as gateway_cmd  # noqa: E402

app.add_typer(gateway_cmd.app, name="gateway")
app.add_typer(centre_cmd.app, name="centre")
app.add_typer(cluster_cmd.app, name="cluster")
app.add_typer(db_cmd.app, name="db")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(export_cmd.app, name="export")
app.command("import")(export_cmd.import_case)


def main() -> None:
    """Entry point of the console script: a setting the environment gets wrong is named, one
    line each, and exits 2 (not a traceback; its value is not repeated, it may be a secret); a
    database that does not answer is said in a line, exit 1."""
    try:
        app()
    except Exception as exc:
        code = _told(exc)
        if code is None:
            raise
        raise SystemExit(code) from None


def _told(exc: Exception) -> int | None:
    """Say what went wrong in a line when it is the environment's doing, and the exit code;
    None for anything else (a traceback: a fault of ours). Imported here, not at start: the
    `vigie law` commands need neither SQLAlchemy nor the store."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    from vigie.store.schema import SchemaBehind

    if isinstance(exc, SchemaBehind):
        typer.echo(f"vigie: {exc}", err=True)
        return 1
    if isinstance(exc, OperationalError):
        typer.echo(f"vigie: the database did not answer: {exc.orig or exc}".strip(), err=True)
        return 1
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(
                f"vigie: {'VIGIE_' + name if name else 'settings'}: {error['msg']}", err=True
            )
        return 2
    return None
