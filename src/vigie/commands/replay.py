"""`vigie replay`: run a scenario through the detection engine, alarms out as JSON Lines."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer


def replay(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario, JSON Lines (see the replay contract).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write alarm events here (default: stdout).")
    ] = None,
    arrival_order: Annotated[
        bool,
        typer.Option(
            "--arrival-order",
            help="Take file order as the order records reached the centre (late uploads as live).",
        ),
    ] = False,
) -> None:
    """Replay SCENARIO through the detection engine: the same input gives the same bytes.

    Exit 2 naming the line and field of the first malformed record; nothing is written then.
    """
    # The engine (numpy, shapely) is loaded here, not with every `vigie` command.
    from vigie.detect import ScenarioError
    from vigie.detect import replay as run_replay

    try:
        with scenario.open(encoding="utf-8") as lines:
            events = run_replay(lines, arrival_order=arrival_order)
    except ScenarioError as exc:
        typer.echo(f"{scenario}: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"{scenario}: cannot read the scenario ({exc})", err=True)
        raise typer.Exit(2) from exc
    text = "".join(event.to_json() + "\n" for event in events)
    if out is None:
        typer.echo(text, nl=False)
        return
    # Written whole then renamed: a reader never sees a half-written alarms file.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    except OSError as exc:
        typer.echo(f"{out}: cannot write the alarms ({exc})", err=True)
        raise typer.Exit(1) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
