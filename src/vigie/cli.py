"""The `vigie` command: one Typer app, each sub-command in `vigie.commands`."""

import typer

app = typer.Typer(
    name="vigie",
    help="Vigie: judicial electronic monitoring under French law.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Sub-commands register here, one line each (see vigie/commands/).
from vigie.commands import audit as audit_cmd  # noqa: E402
from vigie.commands import centre as centre_cmd  # noqa: E402
from vigie.commands import db as db_cmd  # noqa: E402

app.add_typer(db_cmd.app, name="db")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(centre_cmd.app, name="centre")
from vigie.commands import law as law_cmd  # noqa: E402

app.add_typer(law_cmd.app, name="law")
from vigie.commands import replay as replay_cmd  # noqa: E402

app.command("replay")(replay_cmd.replay)
from vigie.commands import sim as sim_cmd  # noqa: E402

app.add_typer(sim_cmd.app, name="sim")


def main() -> None:
    """Entry point of the console script."""
    app()
