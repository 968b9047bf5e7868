"""`vigie sim`: generate simulated scenarios with ground truth, and score alarms against it.

The simulator (numpy, pyproj) is imported by the commands that run it, not by every `vigie`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

    from vigie.sim.scoring import Score

app = typer.Typer(
    help="Simulated wearers and protected persons; detection scoring.", no_args_is_help=True
)


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option("--out", help="Scenario to write (replay JSON Lines).")],
    truth: Annotated[Path, typer.Option("--truth", help="Ground truth to write (JSON Lines).")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes.")] = 1,
    cases: Annotated[int, typer.Option(help="Number of cases.")] = 20,
    days: Annotated[int, typer.Option(help="Simulated days, from local midnight of --start.")] = 7,
    mix: Annotated[
        str, typer.Option(help="Shares of each measure.")
    ] = "ddse=0.4,psem=0.35,bar=0.25",
    start: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD); default: the simulator's, a Monday.")
    ] = None,
    noise: Annotated[
        bool,
        typer.Option(
            "--noise", help="Field GPS noise (vigie.sim.noise): fallback fixes, drift, jumps..."
        ),
    ] = False,
) -> None:
    """Write a seeded scenario and its ground truth."""
    from rich.progress import Progress

    from vigie.sim.scenario import DEFAULT_START, Mix, MixError, generate

    err = Console(stderr=True)
    try:
        shares = Mix.parse(mix)
        first = DEFAULT_START if start is None else date.fromisoformat(start)
    except (MixError, ValueError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    with (
        out.open("w", encoding="utf-8") as scenario,
        truth.open("w", encoding="utf-8") as episodes,
        Progress(console=err, transient=True) as progress,
    ):
        task = progress.add_task("cases", total=cases)
        summary = generate(
            scenario,
            episodes,
            seed=seed,
            cases=cases,
            days=days,
            mix=shares,
            start=first,
            progress=lambda n: progress.update(task, completed=n),
            noise=noise,
        )
    err.print(
        f"{summary.cases} cases, {summary.devices} devices, {summary.days} days: "
        f"{summary.records} observations, {summary.truth_episodes} true episodes "
        f"in {summary.seconds:.1f} s"
    )


def score_table(title: str, result: Score) -> Table:
    """A readable table of a score."""
    from rich.table import Table

    table = Table(title=title)
    columns = ("kind", "episodes", "caught", "recall", "delay med s", "delay max s")
    for column in (*columns, "raised", "false", "flaps"):
        table.add_column(column, justify="left" if column == "kind" else "right", no_wrap=True)
    for kind, k in result.kinds.items():
        d = k.to_dict()
        if not d["episodes"] and not d["raised"]:
            continue
        table.add_row(
            kind,
            str(d["episodes"]),
            str(d["caught"]),
            "-" if d["recall"] is None else f"{d['recall']:.1%}",
            "-" if d["delay_median_s"] is None else f"{d['delay_median_s']:.0f}",
            "-" if d["delay_max_s"] is None else f"{d['delay_max_s']:.0f}",
            str(d["raised"]),
            str(d["false_alarms"]),
            str(d["flaps"]),
        )
    per_day = result.to_dict()["false_alarms_per_device_day"]
    table.caption = (
        f"false alarms {result.false_alarms} over {result.device_days:.1f} device-days"
        f" ({per_day or 0:.4f} per device-day), flaps {result.flaps}"
    )
    return table


@app.command("score")
def score_cmd(
    scenario: Annotated[Path, typer.Argument(help="The scenario the alarms came from.")],
    truth: Annotated[Path, typer.Argument(help="Its ground truth.")],
    alarms: Annotated[Path, typer.Argument(help="Alarm events (JSON Lines) of a detector.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    tolerance_s: Annotated[
        int, typer.Option(help="Seconds after a true start an alarm still counts.")
    ] = 600,
) -> None:
    """Recall, detection delay, false alarms and flapping of alarms against ground truth."""
    from vigie.sim.scoring import ScenarioFacts, read_alarms, read_truth, score

    with scenario.open(encoding="utf-8") as f:
        facts = ScenarioFacts.read(f)
    with truth.open(encoding="utf-8") as f:
        episodes = read_truth(f)
    with alarms.open(encoding="utf-8") as f:
        events = read_alarms(f)
    result = score(events, episodes, facts, tolerance_s=tolerance_s)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True, indent=2))
    else:
        console = Console()
        console.width = max(console.width, 100)  # the table is unreadable when squeezed
        console.print(score_table(f"Detection quality: {alarms.name}", result))
